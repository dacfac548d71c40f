"""Fast JMESPath: `compile_jmespath(expr)` gives `search(data)`, plain Python for common shapes.

Used by response checks (`runtime.checks`) and the jmespath extractor (`yamlswarm.extractors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jmespath

__all__ = ["compile_jmespath"]


def compile_jmespath(expr: str) -> Callable[[Any], Any]:
    """`search(data)` for a JMESPath expression, compiled once.

    The interpreter of the `jmespath` package costs 3-10 µs per search; the
    most common shapes (`a.b.c`, `items[0].id`, `length(items)`) are turned
    into plain Python functions with the same results instead. Anything else,
    and any case where JMESPath would raise, goes to `jmespath` itself.
    Raises `jmespath.exceptions.ParseError` (a ValueError) for a bad expression.
    """
    parsed = jmespath.compile(expr)
    tree = parsed.parsed
    if tree.get("type") == "function_expression" and tree.get("value") == "length":
        children = tree.get("children", [])
        inner = _fast(children[0]) if len(children) == 1 else None
        if inner is not None:
            return _length(inner, parsed.search)
    fast = _fast(tree)
    return fast if fast is not None else parsed.search


def _fast(node: dict) -> Callable[[Any], Any] | None:
    kind = node.get("type")
    if kind == "field":
        key = node["value"]
        return lambda value: value.get(key) if isinstance(value, dict) else None
    if kind == "index":
        return _index(node["value"])
    if kind in ("subexpression", "index_expression"):
        parts = []
        for child in node.get("children", []):
            part = _fast(child)
            if part is None:
                return None
            parts.append(part)
        return _chain(parts) if parts else None
    return None


def _index(position: int) -> Callable[[Any], Any]:
    def index(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[position]
        except IndexError:
            return None

    return index


def _chain(parts: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    if len(parts) == 2:
        first, second = parts
        return lambda value: second(first(value))

    def chained(value: Any) -> Any:
        for part in parts:
            value = part(value)
        return value

    return chained


def _length(inner: Callable[[Any], Any], slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def length(data: Any) -> Any:
        value = inner(data)
        if isinstance(value, (str, list, dict)):
            return len(value)
        return slow(data)  # raises JMESPath's own type error

    return length
