"""Text from the target or a peer made safe for a terminal: control characters shown escaped.

A response body, a header, an error message or a worker's name can hold raw
escape sequences (`\\x1b[2J` clears the screen), carriage returns that
overwrite a line, bells, C1 controls or bidirectional overrides. Everything
printed that did not come from yamlswarm itself goes through `one_line` (table
cells, the live view, trace headers) or `printable` (multi-line text such as
a body), which show each such character as a Python-style escape.
"""

from __future__ import annotations

import re

__all__ = ["one_line", "printable"]

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
