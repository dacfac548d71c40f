"""The environment of every template: what a template may touch (see the package docstring)."""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import types
import uuid
from collections import ChainMap, OrderedDict, defaultdict
from collections import abc as cabc
from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    modifies_known_mutable,
)
from jinja2.utils import Cycler, Joiner
from jinja2.visitor import NodeTransformer

from yamlswarm.sandbox.bounds import (
    BINOPS,
    GLOBALS,
    MAX_SIZE,
    TEXT_METHODS,
    TemplateLimitError,
    TemplateNotAllowed,
    check_text_method,
    size_of,
    tick,
    too_large,
)
from yamlswarm.sandbox.filters import FILTERS, bounded_concat


class SafeProxy:
    """Base of objects that choose which attributes templates see (they never show `_` names)."""

    __slots__ = ()


# ------------------------------------------------------------------ str.format


class _BoundedFormat:
    """A mixin for Jinja's sandboxed formatters: no format spec wider than MAX_SIZE."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in re.findall(r"\d+", format_spec):
            if int(number) > MAX_SIZE:
                raise TemplateLimitError(f"a format width of {int(number):,}: at most {MAX_SIZE:,}")
        return super().format_field(value, format_spec)  # type: ignore[misc]


class _Formatter(_BoundedFormat, SandboxedFormatter):
    pass


class _EscapeFormatter(_BoundedFormat, SandboxedEscapeFormatter):
    pass


# ------------------------------------------------------------------ methods

_OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
    types.MappingProxyType,
    functools.partial,
    property,
    staticmethod,
    classmethod,
)
# values never handed to a template as an attribute or item
_FORBIDDEN_VALUES = tuple(
    t for t in _OPAQUE if t not in (types.BuiltinFunctionType, types.MethodType)
)
_NUMBERS = frozenset({int, float})
_DATA = frozenset({str, int, float, bool, type(None), list, tuple, dict, set, frozenset, bytes})
PLAIN_DATA = _DATA  # attribute values `is_safe_attribute` allows first, whatever the owner
# classes whose (non-mutating) methods templates may call
_METHOD_OWNERS = frozenset(
    {
        str,
        bytes,
        bytearray,
        int,
        float,
        complex,
        bool,
        list,
        tuple,
        dict,
        set,
        frozenset,
        range,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        datetime.tzinfo,
        datetime.timezone,
        decimal.Decimal,
        uuid.UUID,
        OrderedDict,
        defaultdict,
        ChainMap,
        cabc.Mapping,
        cabc.MutableMapping,
        cabc.Sequence,
        cabc.Set,
        cabc.KeysView,
        cabc.ValuesView,
        cabc.ItemsView,
        LoopContext,
        Cycler,
        Joiner,
    }
)
_DENIED_METHODS = frozenset({"fromkeys", "translate", "to_bytes", "format_map"})


def _method_allowed(kind: type, attr: str) -> bool:
    """Whether `kind().attr` is a method of one of the _METHOD_OWNERS (cached)."""
    allowed = _METHODS_SEEN.get((kind, attr))
    if allowed is None:
        owner = next((klass for klass in kind.__mro__ if attr in vars(klass)), None)
        allowed = owner in _METHOD_OWNERS and attr not in _DENIED_METHODS
        if len(_METHODS_SEEN) < 4096:
            _METHODS_SEEN[(kind, attr)] = allowed
    return allowed  # an instance attribute holding a callable has no owner: refused


_METHODS_SEEN: dict[tuple[type, str], bool] = {}

# ------------------------------------------------------------------ the environment


class Sandbox(ImmutableSandboxedEnvironment):
    """The environment of every yamlswarm template (see the module docstring)."""

    intercepted_binops = frozenset(BINOPS)
    concat = staticmethod(bounded_concat)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.clear()
        self.globals.update(GLOBALS)
        self.filters = dict(FILTERS)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr[:1] == "_":
            return False
        if type(value) in _DATA:  # plain data: the common case, decided first
            return True
        if isinstance(obj, SafeProxy):
            return True
        if isinstance(obj, _OPAQUE) or isinstance(value, _FORBIDDEN_VALUES):
            return False
        if not callable(value) or isinstance(value, (Cycler, Joiner)):
            return True
        return _method_allowed(type(obj), attr) and not modifies_known_mutable(obj, attr)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):  # report the first refusal, not a walk on from it
            obj._fail_with_undefined_error()
        if attribute[:1] == "_":
            return self.unsafe_undefined(obj, attribute)
        if isinstance(obj, SafeProxy):  # it says why an attribute is missing (did you mean)
            try:
                return getattr(obj, attribute)
            except AttributeError as exc:
                return self.undefined(str(exc), obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        value = super().getitem(obj, argument)
        if isinstance(value, _FORBIDDEN_VALUES) and not isinstance(value, types.FunctionType):
            return self.unsafe_undefined(obj, str(argument))
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        # no clock here: operators outside loops and calls are finitely many, each bounded
        if operator == "+" and type(left) in _NUMBERS and type(right) in _NUMBERS:
            return left + right  # the common case, without a call
        return BINOPS[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick(__context)
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes, bytearray)) and getattr(__obj, "__name__", "") in (
            TEXT_METHODS
        ):
            args = check_text_method(__obj, args, kwargs)
        return __context.call(__obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` of a template: sandboxed fields, bounded widths."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            return None
        if value.__name__ != "format" or not isinstance(value.__self__, str):
            return None
        text = value.__self__
        escape = getattr(text, "escape", None)
        formatter: SandboxedFormatter = (
            _EscapeFormatter(self, escape=escape) if escape else _Formatter(self)
        )
        kind = type(text)

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if size_of((args, kwargs), MAX_SIZE) + len(text) > MAX_SIZE:
                raise too_large("str.format would make a text")
            return kind(formatter.vformat(text, args, kwargs))

        return bounded_format


# ------------------------------------------------------------------ compile-time bounds

_REFUSED = {
    nodes.Include: "'include' is not available in scenario templates",
    nodes.Import: "'import' is not available in scenario templates",
    nodes.FromImport: "'from ... import' is not available in scenario templates",
    nodes.Extends: "'extends' is not available in scenario templates",
}
_BLOCKS = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock)


def bound_template(ast: nodes.Template) -> nodes.Template:
    """Rewrite a parsed template so it renders within the bounds; TemplateNotAllowed if refused."""
    for kind, message in _REFUSED.items():
        if ast.find(kind) is not None:
            raise TemplateNotAllowed(message)
    for name in ast.find_all(nodes.Name):
        if name.name == "self":
            raise TemplateNotAllowed("'self' is not available in scenario templates")
    for loop in ast.find_all(nodes.For):
        if loop.recursive:
            raise TemplateNotAllowed("recursive loops are not available in scenario templates")
    bounded = _Bounder().visit(ast)
    bounded.set_environment(ast.environment)
    return bounded


def plain_output(ast: nodes.Template) -> bool:
    """Whether a template only prints text and values of its context as they are (no loop,
    block, assignment or computed output): its whole output needs one size check."""
    if any(ast.find(kind) is not None for kind in (*_BLOCKS, nodes.Assign)):
        return False
    return all(
        isinstance(child, nodes.TemplateData) or passes_through(child)
        for output in ast.find_all(nodes.Output)
        for child in output.nodes
    )


def passes_through(expr: nodes.Node) -> bool:
    """`a`, `a.b`, `a['b']`, a constant: the value of the context as it is, nothing built."""
    while isinstance(expr, (nodes.Getattr, nodes.Getitem)):
        if isinstance(expr, nodes.Getitem) and not isinstance(expr.arg, nodes.Const):
            return False
        expr = expr.node
    return isinstance(expr, (nodes.Name, nodes.Const))


def _filter(node: Any, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Bounder(NodeTransformer):
    """Wraps loop iterables, `~`, non-constant literals and buffered outputs in checks.

    Output at the top of a template is counted as it is yielded (Template.render);
    output inside a macro, `{% call %}`, `{% filter %}` or `{% set %}...{% endset %}`
    is buffered before Jinja joins it, so each piece is counted as it is made.
    """

    def __init__(self) -> None:
        self.buffered = 0

    def _buffering(self, node: Any) -> Any:
        self.buffered += 1
        try:
            self.generic_visit(node)
        finally:
            self.buffered -= 1
        return node

    visit_Macro = visit_CallBlock = visit_FilterBlock = visit_AssignBlock = _buffering

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_ys_loop")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Expr:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "_ys_concat")

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        if self.buffered:
            node.nodes = [
                n if isinstance(n, nodes.TemplateData) else _filter(n, "_ys_output")
                for n in node.nodes
            ]
        return node

    def _literal(self, node: Any) -> Any:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load" or _constant(node):
            return node
        return _filter(node, "_ys_sized")

    visit_List = visit_Tuple = visit_Dict = _literal


def _constant(node: nodes.Node) -> bool:
    children = list(node.iter_child_nodes())
    return all(
        isinstance(c, nodes.Const) or (isinstance(c, nodes.Pair) and _constant(c)) for c in children
    )
