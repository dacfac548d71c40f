"""The extractor table: one entry per `extract:` source, shared by schema, compiler and runtime.

    jmespath   regex   header   cookie   status

An `ExtractorKind` holds its schema properties (`scenario.schema` assembles them
into the `extractor` definition), its compile function (checks the spec, gives the
plan's `expr` and `group`) and its getter factory: `getter(extract)` returns
`get(response)`, which returns the value or raises `ExtractFailed` with a stable
error name such as `extract id: jmespath items[0].id matched nothing`. The
compiler calls `compile_extract`; `runtime.extract.build_extractor` calls the getters.

This table is not in the `kinds` package: the request kind imports the request
executor, which imports the runtime's extraction, which imports this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from jmespath.exceptions import JMESPathError

from yamlswarm.plan import Extract, Source
from yamlswarm.runtime.bounded import (
    JsonTooDeep,
    RegexError,
    RegexTimeout,
    compile_regex,
    response_json,
    search,
)
from yamlswarm.runtime.jmes import compile_jmespath

if TYPE_CHECKING:
    from yamlswarm.runtime.http.response import Response

__all__ = [
    "BY_NAME",
    "COMMON_PROPERTIES",
    "EXTRACTORS",
    "ExtractFailed",
    "ExtractorKind",
    "compile_extract",
]

JsonPath = tuple[Any, ...]
Getter = Callable[["Response"], Any]  # the value, or raises ExtractFailed


class ExtractFailed(Exception):
    """An extraction found nothing; `args[0]` is the stable error name."""


class _Context(Protocol):
    """What the compile functions use of the compiler's Context (see `kinds.base.CompileContext`)."""

    def error(self, path: JsonPath, message: str, *, key: bool = False) -> None: ...

    def source(self, path: JsonPath) -> Source: ...

    def mapping(self, path: JsonPath, raw: Any) -> dict[Any, Any]: ...

    def value(self, path: JsonPath, raw: Any, scope: frozenset[str] | None = None) -> Any: ...

    def integer(self, path: JsonPath, raw: Any, default: int, minimum: int = 0) -> int: ...

    def regex(self, path: JsonPath, pattern: Any) -> str: ...

    def jmespath(self, path: JsonPath, expr: Any) -> str: ...


@dataclass(frozen=True)
class ExtractorKind:
    """One extraction source: selected by the key `name` in an extractor mapping."""

    name: str
    properties: Mapping[str, Any]  # schema properties it adds to `extractor`, its own key first
    compile: Callable[[_Context, dict[Any, Any], JsonPath], tuple[str, int]]  # -> (expr, group)
    getter: Callable[[Extract], Getter]
    requires: Mapping[str, list[str]] = field(default_factory=dict)  # dependentRequired


# ---------------------------------------------------------------- jmespath


def _compile_jmespath(ctx: _Context, spec: dict, path: JsonPath) -> tuple[str, int]:
    return ctx.jmespath((*path, "jmespath"), spec["jmespath"]), 1


def _jmespath(extract: Extract) -> Getter:
    search = compile_jmespath(extract.expr)
    prefix = f"extract {extract.var}: jmespath {extract.expr}"
    nothing = f"{prefix} matched nothing"
    not_json = f"{prefix} (body is not JSON)"

    def get(response: Response) -> Any:
        try:
            data = response_json(response)
        except JsonTooDeep as exc:
            raise ExtractFailed(f"{prefix} ({exc})") from None
        except ValueError:
            raise ExtractFailed(not_json) from None
        try:
            result = search(data)
        except JMESPathError as exc:
            raise ExtractFailed(f"{prefix} failed ({type(exc).__name__})") from None
        if result is None:
            raise ExtractFailed(nothing)
        return result

    return get


# ---------------------------------------------------------------- regex


def _compile_regex(ctx: _Context, spec: dict, path: JsonPath) -> tuple[str, int]:
    pattern = ctx.regex((*path, "regex"), spec["regex"])
    group = ctx.integer((*path, "group"), spec.get("group"), 1)
    try:
        groups = compile_regex(pattern).groups
    except RegexError:
        return pattern, group  # already reported
    if group > groups:
        ctx.error((*path, "group"), f"regex {pattern!r} has no group {group} (it has {groups})")
    return pattern, group


def _regex(extract: Extract) -> Getter:
    regex = compile_regex(extract.expr)
    group = extract.group
    if group > regex.groups:
        raise ValueError(
            f"extract {extract.var}: regex '{extract.expr}' has {regex.groups} group(s), "
            f"not group {group}"
        )
    no_match = f"extract {extract.var}: regex '{extract.expr}' no match"

    def get(response: Response) -> Any:
        try:
            found = search(regex, response.text)
        except RegexTimeout as exc:
            raise ExtractFailed(f"extract {extract.var}: regex '{extract.expr}' ({exc})") from None
        value = found.group(group) if found is not None else None
        if value is None:
            raise ExtractFailed(no_match)
        return value

    return get


# ---------------------------------------------------------------- header, cookie, status


def _compile_name(key: str) -> Callable[[_Context, dict, JsonPath], tuple[str, int]]:
    return lambda ctx, spec, path: (str(spec[key]), 1)


def _lookup(kind: str, source: Callable[[Response], Any]) -> Callable[[Extract], Getter]:
    """A named value from a mapping of the response (its headers, the cookies it set)."""

    def getter(extract: Extract) -> Getter:
        name = extract.expr
        missing = f"extract {extract.var}: {kind} {name} missing"

        def get(response: Response) -> Any:
            value = source(response).get(name)
            if value is None:
                raise ExtractFailed(missing)
            return value

        return get

    return getter


def _status(extract: Extract) -> Getter:
    return lambda response: response.status


# ---------------------------------------------------------------- the table

EXTRACTORS: tuple[ExtractorKind, ...] = (
    ExtractorKind(
        "jmespath",
        {"jmespath": {"type": "string", "description": "JMESPath expression on the JSON body."}},
        _compile_jmespath,
        _jmespath,
    ),
    ExtractorKind(
        "regex",
        {
            "regex": {"type": "string", "description": "Regular expression searched in the body."},
            "group": {
                "type": "integer",
                "minimum": 0,
                "description": "Regex group to take (default 1).",
            },
        },
        _compile_regex,
        _regex,
        requires={"group": ["regex"]},
    ),
    ExtractorKind(
        "header",
        {"header": {"type": "string", "description": "Name of a response header."}},
        _compile_name("header"),
        _lookup("header", lambda response: response.headers),
    ),
    ExtractorKind(
        "cookie",
        {"cookie": {"type": "string", "description": "Name of a cookie set by the response."}},
        _compile_name("cookie"),
        _lookup("cookie", lambda response: response.cookies),
    ),
    ExtractorKind(
        "status",
        {"status": {"const": True, "description": "true: store the status code."}},
        lambda ctx, spec, path: ("", 1),
        _status,
    ),
)
BY_NAME = {kind.name: kind for kind in EXTRACTORS}
COMMON_PROPERTIES = {  # keys every extractor may add
    "default": {
        "description": "Value used when nothing matches (otherwise a failed extraction is an error)."
    }
}


def compile_extract(ctx: _Context, raw: Any, path: JsonPath) -> tuple[Extract, ...]:
    """A request's `extract:` mapping (variable -> extractor) as plan `Extract`s."""
    return tuple(
        _extractor(ctx, str(var), spec, (*path, var))
        for var, spec in ctx.mapping(path, raw).items()
    )


def _extractor(ctx: _Context, var: str, raw: Any, path: JsonPath) -> Extract:
    spec = ctx.mapping(path, raw)
    kinds = [name for name in BY_NAME if name in spec]
    source = ctx.source(path)
    if len(kinds) != 1:
        ctx.error(path, f"an extractor needs exactly one of {', '.join(BY_NAME)}")
        return Extract(var, "status", source=source)
    kind = kinds[0]
    expr, group = BY_NAME[kind].compile(ctx, spec, path)
    has_default = "default" in spec
    default = ctx.value((*path, "default"), spec["default"]) if has_default else None
    return Extract(var, kind, expr, group, default, has_default, source)
