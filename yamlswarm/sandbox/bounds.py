"""The bounds of one template render: the limits, a render's budget, checked operators and globals.

Everything here raises `TemplateLimitError` naming the bound it hit (the limits and
why they are what they are: docs/scenario-format.md, "Templating").
"""

from __future__ import annotations

import decimal
import itertools
import re
import time
import uuid
from collections import abc as cabc
from collections.abc import Callable
from typing import Any

from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Context
from jinja2.utils import Cycler, Joiner, Namespace, generate_lorem_ipsum

MAX_LOOP_ITERATIONS = 100_000
MAX_RANGE = 100_000
MAX_FILTER_ITEMS = 100_000
MAX_SIZE = 4 * 1024 * 1024
MAX_INT_BITS = 100_000
MAX_LIPSUM_WORDS = 100_000
MAX_RENDER_SECONDS = 1.0


class TemplateLimitError(TemplateRuntimeError):
    """A render went past one of the sandbox's bounds; the message names which."""


class TemplateNotAllowed(ValueError):
    """A template construct the sandbox refuses at compile time (`include`, `self`, ...)."""


class RenderContext(Context):
    """Jinja's context plus the budgets of one render (class defaults: nothing spent yet)."""

    deadline = 0.0  # perf_counter time the render must end by; 0: not started
    iterations = 0
    output = 0


def tick(context: Context) -> None:
    """Start the clock of a render, or stop a render that has used up its time."""
    now = time.perf_counter()
    deadline = getattr(context, "deadline", None)
    if deadline is None:  # a plain Context (never built by yamlswarm.templates): no budget
        return
    if not deadline:
        context.deadline = now + MAX_RENDER_SECONDS  # type: ignore[attr-defined]
    elif now > deadline:
        raise TemplateLimitError(f"the template took longer than {MAX_RENDER_SECONDS:g}s to render")


# ------------------------------------------------------------------ sizes


def size_of(value: Any, limit: int) -> int:
    """Characters and items inside `value`, shared parts counted each time; stops past `limit`.

    This bounds what `str(value)` or a JSON dump of it can produce.
    """
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bytes or kind is bytearray:
            total += len(item)
        elif kind is int:
            total += item.bit_length() // 3 + 1  # about its decimal digits
        elif isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif kind in SCALARS or isinstance(item, range):
            total += 1
        elif isinstance(item, cabc.Mapping):
            total += len(item) + 1
            if total <= limit:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, Namespace):
            pending.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, (cabc.Collection, cabc.MappingView)):
            total += len(item) + 1
            if total <= limit:
                pending.extend(item)  # type: ignore[arg-type]
        else:
            total += 1
        if total > limit:
            break
    return total


SCALARS = frozenset({float, bool, type(None), complex, decimal.Decimal, uuid.UUID})


def check_size(value: Any, what: str = "a value") -> Any:
    """`value` itself, or TemplateLimitError when it holds more than MAX_SIZE characters/items."""
    kind = type(value)
    if (kind is str or kind is bytes) and len(value) <= MAX_SIZE:
        return value
    if kind in SCALARS or (kind is int and value.bit_length() <= MAX_INT_BITS):
        return value
    if size_of(value, MAX_SIZE) > MAX_SIZE:
        raise too_large(what)
    return value


def too_large(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} of more than {MAX_SIZE:,} characters or items")


def check_count(count: Any, what: str, limit: int = MAX_SIZE) -> None:
    if isinstance(count, int) and count > limit:
        raise TemplateLimitError(f"{what} of {count:,}: at most {limit:,}")


# ------------------------------------------------------------------ operators

_BITS = f"an integer of more than {MAX_INT_BITS:,} bits"
_SEQUENCES = (str, bytes, list, tuple)
_NUMBERS = frozenset({int, float})


def _mul(left: Any, right: Any) -> Any:
    if isinstance(right, int) and isinstance(left, _SEQUENCES):
        sequence, times = left, right
    elif isinstance(left, int) and isinstance(right, _SEQUENCES):
        sequence, times = right, left
    else:
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"'*' would make {_BITS}")
        return left * right
    if times > 0 and size_of(sequence, MAX_SIZE) * times > MAX_SIZE:
        raise too_large("'*' would make a value")
    return left * right


def _pow(left: Any, right: Any) -> Any:
    big = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
    if big and left.bit_length() * right > MAX_INT_BITS:
        raise TemplateLimitError(f"'**' would make {_BITS}")
    return left**right


def _add(left: Any, right: Any) -> Any:
    if type(left) in _NUMBERS and type(right) in _NUMBERS:  # the common case
        return left + right
    sequences = isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES)
    if sequences and size_of(left, MAX_SIZE) + size_of(right, MAX_SIZE) > MAX_SIZE:
        raise too_large("'+' would make a value")
    return left + right


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_printf(fmt: str | bytes, args: Any) -> None:
    """`%` formatting: widths and precisions within MAX_SIZE, the result within MAX_SIZE."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    for match in _PRINTF.finditer(text):
        for number in match.groups():
            if number == "*":
                raise TemplateLimitError("'*' widths in % formats are not available in templates")
            if number is not None and int(number) > MAX_SIZE:
                raise TemplateLimitError(
                    f"a % format width of {int(number):,}: at most {MAX_SIZE:,}"
                )
    if len(fmt) + size_of(args, MAX_SIZE) > MAX_SIZE:
        raise too_large("'%' would make a text")


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes)):
        check_printf(left, right)
    return left % right


BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": _mul, "**": _pow, "+": _add, "%": _mod}


# ------------------------------------------------------------------ text methods


def check_text_method(method: Any, args: tuple, kwargs: dict) -> tuple:
    """Size checks before `str`/`bytes` methods that can grow text; returns the args to use."""
    text = method.__self__
    name = method.__name__
    if name in ("center", "ljust", "rjust", "zfill"):
        check_count(args[0] if args else kwargs.get("width"), f"str.{name} width")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int) and len(text) + text.count("\t") * tabsize > MAX_SIZE:
            raise too_large("str.expandtabs would make a text")
    elif name == "replace" and len(args) >= 2:
        check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and args:
        parts = take(args[0], "str.join")
        if sum(size_of(p, MAX_SIZE) for p in parts) + len(text) * len(parts) > MAX_SIZE:
            raise too_large("str.join would make a text")
        return (parts, *args[1:])
    return args


def check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    if not isinstance(old, (str, bytes)) or not isinstance(new, (str, bytes)):
        return
    try:
        found = len(text) + 1 if not old else text.count(old)
    except TypeError:
        return
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * (len(new) - len(old)) > MAX_SIZE:
        raise too_large("replace would make a text")


TEXT_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"})


def take(iterable: Any, what: str, limit: int = MAX_FILTER_ITEMS) -> list:
    """The items of `iterable` as a list, or TemplateLimitError past `limit` of them."""
    if isinstance(iterable, cabc.Sized) and len(iterable) > limit:
        raise TemplateLimitError(f"{what} of more than {limit:,} items")
    items = list(itertools.islice(iterable, limit + 1))
    if len(items) > limit:
        raise TemplateLimitError(f"{what} of more than {limit:,} items")
    return items


# ------------------------------------------------------------------ globals


def _range(*args: Any) -> range:
    """`range()`, of at most MAX_RANGE items."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise TemplateLimitError(f"range() of more than {MAX_RANGE:,} items")
    return numbers


def _dict(*args: Any, **kwargs: Any) -> dict:
    """`dict()`, within MAX_SIZE."""
    return check_size(dict(*args, **kwargs), "dict()")


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Lorem ipsum of at most MAX_LIPSUM_WORDS words (n paragraphs of min..max words)."""
    for value in (n, min, max):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("lipsum() takes whole numbers")
    if n * max > MAX_LIPSUM_WORDS:
        raise TemplateLimitError(
            f"lipsum() of up to {n * max:,} words (n * max): at most {MAX_LIPSUM_WORDS:,}"
        )
    return str(generate_lorem_ipsum(n, html, min, max))


def _cycler(*items: Any) -> Cycler:
    """`cycler(a, b, ...)`: `.next()` gives the items in turn."""
    return Cycler(*items)


def _joiner(sep: str = ", ") -> Joiner:
    """`joiner(sep)`: '' the first time it is called, then `sep`."""
    return Joiner(sep)


def _namespace(*args: Any, **kwargs: Any) -> Namespace:
    """`namespace(...)`: an object whose attributes `{% set ns.x = ... %}` may change."""
    space = Namespace(*args, **kwargs)
    check_size(dict(*args, **kwargs), "namespace()")
    return space


GLOBALS: dict[str, Callable[..., Any]] = {
    "range": _range,
    "dict": _dict,
    "lipsum": _lipsum,
    "cycler": _cycler,
    "joiner": _joiner,
    "namespace": _namespace,
}
IMPURE_GLOBALS = frozenset({"lipsum", "cycler", "joiner", "namespace"})  # never folded
