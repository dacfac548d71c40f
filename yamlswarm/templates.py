"""`{{ expression }}` templates: compiled once in a bounded Jinja2 sandbox, rendered per user.

`compile_value(obj)` returns `obj` itself when no string inside it holds `{{`
(a constant costs nothing at run time), else a `Template`. A string that is
exactly one `{{ ... }}` keeps the expression's type (`"{{ 5 }}"` is 5); a mixed
string renders to text. Rendering takes one dict, the user's context (see
`base_context`); an undefined name raises `jinja2.UndefinedError`, a template
that reaches for the interpreter `jinja2.exceptions.SecurityError` and one past
a bound (loop iterations, size, time) `TemplateLimitError`: the runtime counts
each as an error of the step. What a template may touch and the bounds are in
yamlswarm/sandbox.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.parser import Parser

from yamlswarm.sandbox import (
    MAX_SIZE,
    PLAIN_DATA,
    RenderContext,
    SafeProxy,
    Sandbox,
    TemplateLimitError,
    TemplateNotAllowed,
    bound_template,
    passes_through,
    plain_output,
    size_of,
)

__all__ = [
    "Template",
    "TemplateCompileError",
    "TemplateLimitError",
    "base_context",
    "compile_string",
    "compile_value",
    "renderer",
]

_ENV = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_SINGLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


class TemplateCompileError(ValueError):
    """A `{{ }}` template that does not compile; the message says why."""


class Template:
    """A compiled template value; `render(ctx)` gives its value for one user context."""

    __slots__ = ("builds", "names", "render", "source")

    def __init__(
        self,
        source: Any,
        render: Callable[[dict], Any],
        names: frozenset[str],
        builds: bool = True,
    ):
        self.source = source  # the value as written (a string, or a dict/list holding templates)
        self.render = render
        self.names = names  # free variable names the template reads
        self.builds = builds  # False: gives a value of the context as it is (`{{ a.b }}`)

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
        names = frozenset(meta.find_undeclared_variables(ast))
        template = _ENV.from_string(_bounded(source, ast))
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc) from None
    direct = _direct_text(ast)
    if direct is not None:
        return Template(source, direct, names)
    render_func = template.root_render_func
    blocks = template.blocks

    def render_text(ctx: dict) -> str:
        parts = []
        size = 0
        for part in render_func(RenderContext(_ENV, ctx, None, blocks)):
            size += len(part)
            if size > MAX_SIZE:
                raise _too_much_output()
            parts.append(part)
        return "".join(parts)

    def render_plain(ctx: dict) -> str:  # text and context values only: one check at the end
        text = "".join(render_func(RenderContext(_ENV, ctx, None, blocks)))
        if len(text) > MAX_SIZE:
            raise _too_much_output()
        return text

    return Template(source, render_plain if plain_output(ast) else render_text, names)


def _too_much_output() -> TemplateLimitError:
    return TemplateLimitError(f"the template's output of more than {MAX_SIZE:,} characters")


def _bounded(source: str, ast: nodes.Template) -> nodes.Template:
    try:
        return bound_template(ast)
    except TemplateNotAllowed as exc:
        raise TemplateCompileError(f"template {source!r} does not compile: {exc}") from None


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
    template = _ENV.from_string(_bounded(source, ast))
    builds = not passes_through(expr)
    chain = _chain(expr)
    if chain is not None:
        return Template(source, _direct_value(chain), names, builds=builds)
    render_func = template.root_render_func
    blocks = template.blocks

    def render_value(ctx: dict) -> Any:
        # A Context built directly: Template.new_context would copy Jinja's globals into a set
        # on every render; the user context already holds them (base_context).
        context = RenderContext(_ENV, ctx, None, blocks)
        for _ in render_func(context):
            pass
        result = context.vars["result"]
        if isinstance(result, Undefined):  # a bare undefined name: raise like any other use
            result._fail_with_undefined_error()
        return result

    return Template(source, render_value, names, builds=builds)


# ------------------------------------------------------------------ dotted names, rendered directly
# `{{ user.id }}`, `{{ a.b['c'] }}` and text around them: what Jinja's generated code does for
# them (resolve the name, `environment.getattr`/`getitem` each step, `str()` the value), done
# without building a Context: 2.3 -> 0.6 µs for `/x?user={{ user.id }}&i={{ iteration }}`.
# The same calls in the same order, so values, sandbox refusals and undefined errors are Jinja's.

Chain = tuple[str, tuple[tuple[bool, Any], ...]]  # name, steps (True: an attribute, else an item)


def _chain(expr: nodes.Node) -> Chain | None:
    """`a.b['c']` as (name, steps); None for any other expression."""
    steps: list[tuple[bool, Any]] = []
    while isinstance(expr, (nodes.Getattr, nodes.Getitem)):
        if isinstance(expr, nodes.Getattr):
            steps.append((True, expr.attr))
        elif isinstance(expr.arg, nodes.Const):
            steps.append((False, expr.arg.value))
        else:
            return None
        expr = expr.node
    if not isinstance(expr, nodes.Name) or expr.ctx != "load":
        return None
    return expr.name, tuple(reversed(steps))


_MISSING = object()
_ASKS_THE_SANDBOX = (Undefined, SafeProxy)  # their attributes always take the sandbox's path


def _plain_getattr(attr: str) -> Callable[[Any], Any]:
    """`_ENV.getattr(obj, attr)`, with its first answer taken directly: an attribute whose
    value is plain data (`PLAIN_DATA`) of an ordinary object is what the sandbox returns."""
    getattr_ = _ENV.getattr
    if attr[:1] == "_":
        return lambda obj: getattr_(obj, attr)

    def get(obj: Any) -> Any:
        if not isinstance(obj, _ASKS_THE_SANDBOX):
            value = getattr(obj, attr, _MISSING)
            if type(value) in PLAIN_DATA:
                return value
        return getattr_(obj, attr)

    return get


def _lookup(chain: Chain) -> Callable[[dict], Any]:
    name, steps = chain
    undefined, getattr_, getitem = _ENV.undefined, _ENV.getattr, _ENV.getitem
    if not steps:
        return lambda ctx: ctx[name] if name in ctx else undefined(name=name)
    if len(steps) == 1 and steps[0][0]:
        get = _plain_getattr(steps[0][1])
        return lambda ctx: get(ctx[name] if name in ctx else undefined(name=name))

    def lookup(ctx: dict) -> Any:
        value = ctx[name] if name in ctx else undefined(name=name)
        for is_attr, key in steps:
            value = getattr_(value, key) if is_attr else getitem(value, key)
        return value

    return lookup


def _direct_value(chain: Chain) -> Callable[[dict], Any]:
    lookup = _lookup(chain)

    def render_value(ctx: dict) -> Any:
        result = lookup(ctx)
        if isinstance(result, Undefined):  # a bare undefined name: raise like any other use
            result._fail_with_undefined_error()
        return result

    return render_value


def _direct_text(ast: nodes.Template) -> Callable[[dict], str] | None:
    """The renderer of a template made only of text and dotted names (None: any other)."""
    parts: list[Any] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
                continue
            chain = _chain(child)
            if chain is None:
                return None
            parts.append(_lookup(chain))
    pieces = tuple(parts)

    def render_direct(ctx: dict) -> str:
        text = "".join([p if type(p) is str else str(p(ctx)) for p in pieces])
        if len(text) > MAX_SIZE:
            raise _too_much_output()
        return text

    return render_direct


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
    parts = [(renderer(k), renderer(v), _builds(k) or _builds(v)) for k, v in items]
    if not any(built for _, _, built in parts):
        pairs = [(k, v) for k, v, _ in parts]
        return lambda ctx: {k(ctx): v(ctx) for k, v in pairs}

    def render_sized(ctx: dict) -> dict:  # a value a template built counts towards MAX_SIZE
        out = {}
        size = 0
        for key, value, built in parts:
            item = value(ctx)
            if built:
                size += _size(item)
                if size > MAX_SIZE:
                    raise _too_large("a templated mapping")
            out[key(ctx)] = item
        return out

    return render_sized


def _render_list(parts: list[Any]) -> Callable[[dict], list]:
    renders = [(renderer(p), _builds(p)) for p in parts]
    if not any(built for _, built in renders):
        plain = [r for r, _ in renders]
        return lambda ctx: [r(ctx) for r in plain]

    def render_sized(ctx: dict) -> list:
        out = []
        size = 0
        for render, built in renders:
            item = render(ctx)
            if built:
                size += _size(item)
                if size > MAX_SIZE:
                    raise _too_large("a templated list")
            out.append(item)
        return out

    return render_sized


def _size(value: Any) -> int:
    return len(value) if type(value) is str else size_of(value, MAX_SIZE)


def _too_large(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} of more than {MAX_SIZE:,} characters or items")


def _builds(part: Any) -> bool:
    return isinstance(part, Template) and part.builds


def _structure(
    source: Any, render: Callable[[dict], Any], parts: list[tuple[Any, Any]]
) -> Template:
    names: set[str] = set()
    for key, val in parts:
        for part in (key, val):
            if isinstance(part, Template):
                names |= part.names
    builds = any(isinstance(p, Template) and p.builds for pair in parts for p in pair)
    return Template(source, render, frozenset(names), builds)


def base_context() -> dict[str, Any]:
    """The template globals (range, dict, lipsum, namespace, ...) for a fresh user context."""
    return dict(_ENV.globals)
