"""Text from the target or a peer made safe for a terminal: control characters shown escaped.

A response body, a header, an error message or a worker's name can hold raw
escape sequences (`\\x1b[2J` clears the screen), carriage returns that
overwrite a line, bells, C1 controls or bidirectional overrides. Everything
printed that did not come from yamlswarm itself goes through `one_line` (table
cells, the live view, trace headers) or `printable` (multi-line text such as
a body), which show each such character as a Python-style escape.

`can_colour` and `can_redraw` say what yamlswarm's own output may do on a
stream: colour only on a terminal without `NO_COLOR` (https://no-color.org);
neither colour nor cursor movement when `TERM=dumb`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["can_colour", "can_redraw", "one_line", "printable"]

# C0 (but tab and line feed), DEL, C1, and the Unicode marks that reorder or break lines
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_MULTI_LINE = re.compile(f"[{_UNSAFE}]")
_ONE_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """`text` with every control character escaped, tabs and line feeds included."""
    return _ONE_LINE.sub(_escape, text) if _ONE_LINE.search(text) else text


def printable(text: str) -> str:
    """`text` with every control character escaped but tabs and line feeds."""
    return _MULTI_LINE.sub(_escape, text) if _MULTI_LINE.search(text) else text


def can_redraw(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """`stream` is a terminal that moves its cursor: not redirected, `TERM` not `dumb`."""
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and environ.get("TERM", "") != "dumb"


def can_colour(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """ANSI colours on `stream`: a terminal (`can_redraw`) and no non-empty `NO_COLOR`."""
    environ = os.environ if environ is None else environ
    return can_redraw(stream, environ) and not environ.get("NO_COLOR")
