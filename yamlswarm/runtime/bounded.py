"""Bounded matching on hostile responses: regexes with a time limit, JSON with a depth limit.

One regex engine for the whole tool: the `regex` package (the `re` syntax, backreferences
and lookaround included, plus a per-search `timeout`). The compiler validates patterns with
`compile_regex` and the runtime searches with it, so a pattern valid in `yamlswarm validate`
is valid at run time. A search that runs past `REGEX_TIMEOUT` raises `RegexTimeout`; checks
and extractors turn it into a named, counted error (`... regex timed out after 100ms`),
so catastrophic backtracking costs one user at most that long per search, never the whole
gevent loop.

`response_json(response)` is `response.json()` refused with `JsonTooDeep` when the body nests
arrays/objects deeper than `JSON_MAX_DEPTH`: the json module recurses once per level, and a
RecursionError escaping a check would kill the user greenlet. A body with no more than that
many `[` and `{` bytes in all skips the scan (the common case); otherwise strings are cut out
and the depth counted at C speed.
"""

from __future__ import annotations

from itertools import accumulate
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:
    from yamlswarm.runtime.http.response import Response

__all__ = [
    "JSON_MAX_DEPTH",
    "JSON_TOO_DEEP",
    "PATTERN_TYPE",
    "REGEX_TIMED_OUT",
    "REGEX_TIMEOUT",
    "JsonTooDeep",
    "Pattern",
    "RegexError",
    "RegexTimeout",
    "compile_regex",
    "json_depth_exceeds",
    "response_json",
    "search",
]

REGEX_TIMEOUT = 0.1  # seconds one search may take
JSON_MAX_DEPTH = 256  # nesting levels of arrays and objects in a response parsed as JSON

REGEX_TIMED_OUT = f"regex timed out after {REGEX_TIMEOUT * 1000:g}ms"
JSON_TOO_DEEP = f"response JSON nested deeper than {JSON_MAX_DEPTH} levels"

RegexError = regex.error
Pattern = Any  # a compiled `regex` pattern (the package ships no type information)
PATTERN_TYPE: type = type(regex.compile(""))


class RegexTimeout(Exception):
    """A search ran past its time limit; `str()` is the stable error text."""

    def __init__(self, timeout: float = REGEX_TIMEOUT) -> None:
        super().__init__(f"regex timed out after {timeout * 1000:g}ms")


class JsonTooDeep(Exception):
    """The body nests deeper than the limit; `str()` is the stable error text.

    Not a ValueError: callers that report "body is not JSON" must not swallow it.
    """

    def __init__(self, limit: int = JSON_MAX_DEPTH) -> None:
        super().__init__(f"response JSON nested deeper than {limit} levels")


def compile_regex(pattern: str) -> Pattern:
    """The compiled pattern, as validation and the runtime both see it; raises `RegexError`."""
    return regex.compile(pattern)


def search(pattern: Any, text: str, timeout: float = REGEX_TIMEOUT) -> Any:
    """`pattern.search(text)` within `timeout` seconds: a match or None; raises `RegexTimeout`.

    Any other value than a compiled pattern (a rendered template) is compiled here as text,
    through the package's cache; an invalid one raises `RegexError`.
    """
    if not isinstance(pattern, PATTERN_TYPE):
        pattern = compile_regex(str(pattern))
    try:
        return pattern.search(text, timeout=timeout)
    except TimeoutError:
        raise RegexTimeout(timeout) from None


# ---------------------------------------------------------------- JSON depth

_BRACKETS = b"[{]}"
_NOT_QUOTE_OR_BRACKET = bytes(set(range(256)) - set(b'"' + _BRACKETS))
_NOT_BRACKET = bytes(set(range(256)) - set(_BRACKETS))
_SIGNS = bytes.maketrans(_BRACKETS, b"\x01\x01\xff\xff")  # `[{` +1, `]}` -1 as signed bytes

# the last body scanned, its limit and the verdict: a step's checks and extractions share a body
_last: tuple[bytes | None, int, bool] = (None, 0, False)


def json_depth_exceeds(body: bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """True when the JSON text `body` nests arrays and objects more than `limit` deep.

    Exact for valid JSON; for invalid JSON it may be off, which `response_json` covers by
    also catching RecursionError.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # drop escapes (`\\` pairs first, then `\"`), then all but quotes and brackets; removing
    # `""` keeps every other quote's parity, so only strings holding brackets are left to cut
    kept = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_QUOTE_OR_BRACKET)
    kept = kept.replace(b'""', b"")
    if b'"' in kept:
        kept = b"".join(kept.split(b'"')[::2])
    signs = kept.translate(_SIGNS, _NOT_BRACKET)
    return len(signs) > limit and max(accumulate(memoryview(signs).cast("b"))) > limit


def response_json(response: Response, limit: int = JSON_MAX_DEPTH) -> Any:
    """`response.json()` for checks and extraction, or `JsonTooDeep` past `limit` levels.

    Raises ValueError, as `response.json()` does, when the body is not JSON.
    """
    global _last
    body = response.body
    if body is not _last[0] or limit != _last[1]:
        _last = (body, limit, json_depth_exceeds(body, limit))
    if _last[2]:
        raise JsonTooDeep(limit)
    try:
        return response.json()
    except RecursionError:  # deep invalid JSON the scan under-counted
        raise JsonTooDeep(limit) from None
