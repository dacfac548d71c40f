"""A virtual user's session headers: `session: {headers}` and the `set_header:` steps' changes.

Each user starts with its user type's headers and sends them with every request,
rendered per request with the user's variables. The rule for a header whose
template reads a variable that is not set yet (a token extracted by the login in
`on_start`): it is left out of the request, not an error. A header the request
sets itself (its `headers:` or `defaults.headers`) wins over the session's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from yamlswarm.runtime.values import as_text
from yamlswarm.templates import Template

__all__ = ["SessionHeader", "session_headers", "with_session"]


class SessionHeader:
    """One header of a user's session: its name as written, the value, the names it needs."""

    __slots__ = ("name", "needs", "render", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value
        if isinstance(value, Template):
            self.render = value.render
            self.needs = value.names
        else:
            text = as_text(value)
            self.render = lambda ctx: text
            self.needs = frozenset()


def session_headers(pairs: Iterable[tuple[str, Any]]) -> dict[str, SessionHeader]:
    """Session headers by lower-case name (a later pair replaces an earlier one)."""
    return {name.lower(): SessionHeader(name, value) for name, value in pairs}


def with_session(
    headers: list[tuple[str, str]], session: Mapping[str, SessionHeader], ctx: dict
) -> list[tuple[str, str]]:
    """`headers` plus the session's headers the request does not set itself, rendered with
    `ctx`; one that reads a variable not set yet is left out."""
    own = {name.lower() for name, _ in headers}
    for key, header in session.items():
        if key in own or not all(name in ctx for name in header.needs):
            continue
        headers.append((header.name, as_text(header.render(ctx))))
    return headers
