"""Filters with bounds, and the internal filters `bound_template` wraps template parts in."""

from __future__ import annotations

import decimal
import functools
from collections import abc as cabc
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2.defaults import DEFAULT_FILTERS
from jinja2.runtime import Context
from jinja2.utils import pass_context

from yamlswarm.sandbox.bounds import (
    MAX_FILTER_ITEMS,
    MAX_LOOP_ITERATIONS,
    MAX_RANGE,
    MAX_SIZE,
    TemplateLimitError,
    check_count,
    check_printf,
    check_replace,
    check_size,
    size_of,
    take,
    tick,
    too_large,
)

# ------------------------------------------------------------------ filters


Check = Callable[[tuple, dict], tuple]


def _bounded_filter(original: Callable[..., Any], check: Check) -> Callable[..., Any]:
    """`original` with `check(args, kwargs) -> args` run first (its pass argument kept)."""
    if hasattr(original, "jinja_pass_arg"):  # pass_context / pass_environment / ...

        @functools.wraps(original)
        def passing(first: Any, *args: Any, **kwargs: Any) -> Any:
            return original(first, *check(args, kwargs), **kwargs)

        return passing

    @functools.wraps(original)
    def plain(*args: Any, **kwargs: Any) -> Any:
        return original(*check(args, kwargs), **kwargs)

    return plain


def _param(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """A filter's argument by position (0 is the filtered value) or by name."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _items_check(name: str) -> Check:
    """The filtered value as a list of at most MAX_FILTER_ITEMS items (a lazy one too)."""

    def check(args: tuple, kwargs: dict) -> tuple:
        if not args:
            return args
        value = args[0]
        if isinstance(value, (str, bytes, cabc.Mapping)) or not isinstance(value, Iterable):
            if isinstance(value, cabc.Sized) and len(value) > MAX_FILTER_ITEMS:
                raise TemplateLimitError(f"'{name}' filter of more than {MAX_FILTER_ITEMS:,} items")
            return args
        return (take(value, f"'{name}' filter"), *args[1:])

    return check


def _text_check(name: str) -> Check:
    """Filters doing Python work per word: a text of at most MAX_FILTER_ITEMS characters."""

    def check(args: tuple, kwargs: dict) -> tuple:
        if args and len(str(args[0])) > MAX_FILTER_ITEMS:
            raise TemplateLimitError(
                f"'{name}' filter of a text of more than {MAX_FILTER_ITEMS:,} characters"
            )
        return args

    return check


def _center(args: tuple, kwargs: dict) -> tuple:
    check_count(_param(args, kwargs, 1, "width"), "'center' width")
    return args


def _indent(args: tuple, kwargs: dict) -> tuple:
    text = str(_param(args, kwargs, 0, "s", ""))
    width = _param(args, kwargs, 1, "width", 4)
    per_line = len(width) if isinstance(width, str) else width
    if isinstance(per_line, int) and len(text) + (text.count("\n") + 1) * per_line > MAX_SIZE:
        raise too_large("'indent' would make a text")
    return args


def _replace(args: tuple, kwargs: dict) -> tuple:
    count = _param(args, kwargs, 3, "count")
    check_replace(
        str(_param(args, kwargs, 0, "s", "")),
        str(_param(args, kwargs, 1, "old", "")),
        str(_param(args, kwargs, 2, "new", "")),
        -1 if count is None else count,
    )
    return args


def _wordwrap(args: tuple, kwargs: dict) -> tuple:
    _text_check("wordwrap")(args, kwargs)
    text = str(_param(args, kwargs, 0, "s", ""))
    width = _param(args, kwargs, 1, "width", 79)
    wrap = str(_param(args, kwargs, 3, "wrapstring") or "\n")
    lines = len(text) // max(width, 1) + text.count("\n") + 1 if isinstance(width, int) else 1
    if len(text) + lines * len(wrap) > MAX_SIZE:
        raise too_large("'wordwrap' would make a text")
    return args


def _format(args: tuple, kwargs: dict) -> tuple:
    if args and isinstance(args[0], str):
        check_printf(args[0], kwargs or args[1:])
    return args


def _join(args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args
    value = args[0]
    items = value if isinstance(value, (str, bytes)) else take(value, "'join' filter")
    glue = len(str(_param(args, kwargs, 1, "d", "")))
    if sum(size_of(item, MAX_SIZE) for item in items) + glue * len(items) > MAX_SIZE:
        raise too_large("'join' would make a text")
    return (items, *args[1:])


def _batch(args: tuple, kwargs: dict) -> tuple:
    linecount = _param(args, kwargs, 1, "linecount")
    fill_with = _param(args, kwargs, 2, "fill_with")
    check_count(linecount, "'batch' size")
    filled = fill_with is not None and isinstance(linecount, int)
    if filled and linecount * (size_of(fill_with, MAX_SIZE) + 1) > MAX_SIZE:
        raise too_large("'batch' would make a list")
    return _items_check("batch")(args, kwargs)


def _slice(args: tuple, kwargs: dict) -> tuple:
    check_count(_param(args, kwargs, 1, "slices"), "'slice' count", MAX_RANGE)
    return args


def _sum(args: tuple, kwargs: dict) -> tuple:
    start = _param(args, kwargs, 2, "start", 0)
    if not isinstance(start, (int, float, decimal.Decimal)):
        raise TemplateLimitError("the 'sum' filter adds numbers only (join texts with 'join')")
    return _items_check("sum")(args, kwargs)


def _pprint(args: tuple, kwargs: dict) -> tuple:
    if args and size_of(args[0], MAX_FILTER_ITEMS) > MAX_FILTER_ITEMS:
        raise TemplateLimitError(f"'pprint' of more than {MAX_FILTER_ITEMS:,} characters or items")
    return args


_FILTER_CHECKS: dict[str, Check] = {
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "wordwrap": _wordwrap,
    "format": _format,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    "pprint": _pprint,
    **{
        name: _items_check(name)
        for name in (
            "map",
            "select",
            "reject",
            "selectattr",
            "rejectattr",
            "sort",
            "unique",
            "groupby",
            "dictsort",
            "min",
            "max",
            "items",
            "xmlattr",
        )
    },
    **{name: _text_check(name) for name in ("urlize", "title")},
}


@pass_context
def _loop(context: Context, iterable: Any) -> Iterator[Any]:
    """The iterable of a `{% for %}`, counted against the render's loop budget."""
    return _counted(context, iterable)


def _counted(context: Any, iterable: Any) -> Iterator[Any]:
    """Counts on the render's RenderContext; the clock every 64 iterations of all loops."""
    for item in iterable:
        spent = context.iterations + 1
        if spent > MAX_LOOP_ITERATIONS:
            raise TemplateLimitError(
                f"more than {MAX_LOOP_ITERATIONS:,} loop iterations in one template render"
            )
        context.iterations = spent
        if not spent & 63:
            tick(context)
        yield item


def _text(value: Any) -> str:
    return value if type(value) is str else str(check_size(value, "an output"))


@pass_context
def _concat(context: Context, parts: list) -> str:
    """`a ~ b ~ ...` within MAX_SIZE."""
    texts = []
    total = 0
    for part in parts:
        text = _text(part)
        total += len(text)
        if total > MAX_SIZE:
            raise too_large("'~' would make a text")
        texts.append(text)
    return "".join(texts)


@pass_context
def _output(context: Context, value: Any) -> str:
    """One `{{ }}` output of a template with loops or blocks, counted against MAX_SIZE."""
    text = _text(value)
    total = getattr(context, "output", 0) + len(text)
    if total > MAX_SIZE:
        raise too_large("the template's output")
    context.output = total  # type: ignore[attr-defined]
    return text


@pass_context
def _sized(context: Context, value: Any) -> Any:
    """A list, tuple or dict literal within MAX_SIZE."""
    return check_size(value, "a literal")


def bounded_concat(parts: Iterable[str]) -> str:
    """Jinja's `concat` (blocks, macros): the joined text within MAX_SIZE."""
    texts = parts if isinstance(parts, list) else list(parts)
    if sum(map(len, texts)) > MAX_SIZE:
        raise too_large("a block's output")
    return "".join(texts)


FILTERS: dict[str, Callable[..., Any]] = {
    name: _bounded_filter(f, _FILTER_CHECKS[name]) if name in _FILTER_CHECKS else f
    for name, f in DEFAULT_FILTERS.items()
}
FILTERS.update(
    {"_ys_loop": _loop, "_ys_concat": _concat, "_ys_output": _output, "_ys_sized": _sized}
)
