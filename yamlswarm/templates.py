"""`{{ expression }}` templates: compiled once with sandboxed Jinja2, rendered per user.

`compile_value(obj)` returns `obj` itself when no string inside it holds `{{`
(a constant costs nothing at run time), else a `Template`. A string that is
exactly one `{{ ... }}` keeps the expression's type (`"{{ 5 }}"` is 5); a mixed
string renders to text. Rendering takes one dict, the user's context (see
`base_context`); an undefined name raises `jinja2.UndefinedError`, which the
runtime counts as an error of the step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "Template",
    "TemplateCompileError",
    "base_context",
    "compile_string",
    "compile_value",
    "renderer",
]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_SINGLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


class TemplateCompileError(ValueError):
    """A `{{ }}` template that does not compile; the message says why."""


class Template:
    """A compiled template value; `render(ctx)` gives its value for one user context."""

    __slots__ = ("names", "render", "source")

    def __init__(self, source: Any, render: Callable[[dict], Any], names: frozenset[str]):
        self.source = source  # the value as written (a string, or a dict/list holding templates)
        self.render = render
        self.names = names  # free variable names the template reads

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def _syntax_error(source: str, exc: TemplateSyntaxError) -> TemplateCompileError:
    return TemplateCompileError(f"template {source!r} does not compile: {exc.message}")


@lru_cache(maxsize=4096)
def compile_string(source: str) -> Template | str:
    """Compile one string; a string without `{{` comes back unchanged."""
    if "{{" not in source:
        return source
    single = _SINGLE.match(source)
    if single and "}}" not in single.group(1) and "{{" not in single.group(1):
        return _compile_expression(source, single.group(1))
    try:
        ast = _ENV.parse(source)
        template = _ENV.from_string(ast)
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc) from None
    render_func = template.root_render_func
    blocks = template.blocks

    def render_text(ctx: dict) -> str:
        return "".join(render_func(Context(_ENV, ctx, None, blocks)))

    return Template(source, render_text, frozenset(meta.find_undeclared_variables(ast)))


def _compile_expression(source: str, expression: str) -> Template:
    try:
        parser = Parser(_ENV, expression, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError(
                "unexpected " + repr(parser.stream.current.value), parser.stream.current.lineno
            )
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc) from None
    ast = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)], lineno=1)
    ast.set_environment(_ENV)
    names = frozenset(meta.find_undeclared_variables(ast))
    template = _ENV.from_string(ast)
    render_func = template.root_render_func
    blocks = template.blocks

    def render_value(ctx: dict) -> Any:
        # A Context built directly: Template.new_context would copy Jinja's globals into a set
        # on every render; the user context already holds them (base_context).
        context = Context(_ENV, ctx, None, blocks)
        for _ in render_func(context):
            pass
        result = context.vars["result"]
        if isinstance(result, Undefined):  # a bare undefined name: raise like any other use
            result._fail_with_undefined_error()
        return result

    return Template(source, render_value, names)


def compile_value(value: Any) -> Any:
    """Compile every string inside `value`; return `value` unchanged if none is a template."""
    if isinstance(value, str):
        return compile_string(value)
    if isinstance(value, Mapping):
        items = [(compile_value(k), compile_value(v)) for k, v in value.items()]
        if not any(isinstance(k, Template) or isinstance(v, Template) for k, v in items):
            return value
        return _structure(value, _render_dict(items), items)
    if isinstance(value, (list, tuple)):
        compiled = [compile_value(v) for v in value]
        if not any(isinstance(v, Template) for v in compiled):
            return value
        return _structure(value, _render_list(compiled), [(None, v) for v in compiled])
    return value


def renderer(value: Any) -> Callable[[dict], Any]:
    """A function of the user context giving `value`: a Template's render, or the constant."""
    if isinstance(value, Template):
        return value.render

    def constant(ctx: dict) -> Any:
        return value

    return constant


def _render_dict(items: list[tuple[Any, Any]]) -> Callable[[dict], dict]:
    pairs = [(renderer(k), renderer(v)) for k, v in items]
    return lambda ctx: {k(ctx): v(ctx) for k, v in pairs}


def _render_list(parts: list[Any]) -> Callable[[dict], list]:
    renders = [renderer(p) for p in parts]
    return lambda ctx: [r(ctx) for r in renders]


def _structure(
    source: Any, render: Callable[[dict], Any], parts: list[tuple[Any, Any]]
) -> Template:
    names: set[str] = set()
    for key, val in parts:
        for part in (key, val):
            if isinstance(part, Template):
                names |= part.names
    return Template(source, render, frozenset(names))


def base_context() -> dict[str, Any]:
    """Jinja's own globals (range, dict, namespace, ...) for a fresh user context."""
    return dict(_ENV.globals)
