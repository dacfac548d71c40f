"""Response extraction: a request step's `extract:` compiled once into an `Extractor`.

`build_extractor(extracts)` compiles JMESPath expressions and regexes up front
(None when there is nothing to extract). `extractor(response, variables)` sets
`variables[var]` for every extraction that succeeds and returns the stable
error names of those that fail, e.g.
`extract product_id: jmespath products[0].id matched nothing`.

Kinds: `jmespath` (on `response.json()`; a None result is "matched nothing",
any other value, even 0 or "", is a match), `regex` (re.search on
`response.text`, `group` 0 = whole match; a group that did not take part is
"no match"), `header` (`response.headers.get`), `cookie` (the cookies set by
THIS response), `status` (always succeeds).

A failure with a `default` stores the default (a templated default is
rendered with `variables` as the context) and is not an error. A failure
without one is an error and REMOVES `var` from `variables` if an earlier
iteration had set it: the SPEC says the variable "stays unset", and a stale
value silently reused would hide the failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jmespath
from jinja2 import Undefined, UndefinedError
from jmespath.exceptions import JMESPathError

from yamlswarm import plan
from yamlswarm.runtime.http.response import Response
from yamlswarm.templates import Template

__all__ = ["Extractor", "build_extractor", "compile_jmespath"]

# one compiled extraction: returns the value or raises _Failed
_Getter = Callable[[Response], Any]


class _Failed(Exception):
    """Internal: an extraction found nothing; `args[0]` is the stable error name."""


class Extractor:
    """All extractions of one request step."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[plan.Extract, _Getter]]) -> None:
        self._items = tuple(items)

    def __call__(self, response: Response, variables: dict) -> list[str]:
        """Store each extracted value in `variables`; return the error names of failures."""
        errors: list[str] = []
        for extract, getter in self._items:
            try:
                variables[extract.var] = getter(response)
            except _Failed as failed:
                error = _fall_back(extract, variables, failed.args[0])
                if error is not None:
                    errors.append(error)
        return errors


def build_extractor(extracts: tuple[plan.Extract, ...]) -> Extractor | None:
    """Compile a step's extractions once; None when the step extracts nothing."""
    if not extracts:
        return None
    return Extractor([(extract, _BUILDERS[extract.kind](extract)) for extract in extracts])


def _fall_back(extract: plan.Extract, variables: dict, error: str) -> str | None:
    """Store the default, or unset the variable and return the error name."""
    if extract.has_default:
        default = extract.default
        if not isinstance(default, Template):
            variables[extract.var] = default
            return None
        try:
            value = default.render(variables)
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises here with the undefined name
                raise UndefinedError("undefined value")
            variables[extract.var] = value
            return None
        except Exception as exc:  # a template error is the extraction's failure
            error = f"extract {extract.var}: default (template error: {exc})"
    variables.pop(extract.var, None)
    return error


def _jmespath(extract: plan.Extract) -> _Getter:
    search = compile_jmespath(extract.expr)
    prefix = f"extract {extract.var}: jmespath {extract.expr}"
    nothing = f"{prefix} matched nothing"
    not_json = f"{prefix} (body is not JSON)"

    def get(response: Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            raise _Failed(not_json) from None
        try:
            result = search(data)
        except JMESPathError as exc:
            raise _Failed(f"{prefix} failed ({type(exc).__name__})") from None
        if result is None:
            raise _Failed(nothing)
        return result

    return get


def _regex(extract: plan.Extract) -> _Getter:
    regex = re.compile(extract.expr)
    group = extract.group
    if group > regex.groups:
        raise ValueError(
            f"extract {extract.var}: regex '{extract.expr}' has {regex.groups} group(s), "
            f"not group {group}"
        )
    no_match = f"extract {extract.var}: regex '{extract.expr}' no match"

    def get(response: Response) -> Any:
        found = regex.search(response.text)
        value = found.group(group) if found is not None else None
        if value is None:
            raise _Failed(no_match)
        return value

    return get


def _header(extract: plan.Extract) -> _Getter:
    return _lookup(extract, "header", lambda response: response.headers)


def _cookie(extract: plan.Extract) -> _Getter:
    return _lookup(extract, "cookie", lambda response: response.cookies)


def _lookup(extract: plan.Extract, kind: str, source: Callable[[Response], Any]) -> _Getter:
    """A named value from a mapping of the response (its headers, the cookies it set)."""
    name = extract.expr
    missing = f"extract {extract.var}: {kind} {name} missing"

    def get(response: Response) -> Any:
        value = source(response).get(name)
        if value is None:
            raise _Failed(missing)
        return value

    return get


def _status(extract: plan.Extract) -> _Getter:
    return lambda response: response.status


_BUILDERS: dict[str, Callable[[plan.Extract], _Getter]] = {
    "jmespath": _jmespath,
    "regex": _regex,
    "header": _header,
    "cookie": _cookie,
    "status": _status,
}


# ---------------------------------------------------------------- fast JMESPath


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
