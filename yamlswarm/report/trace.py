"""`--trace`: print every exchange of a traced run, secrets masked, control characters escaped.

Masked: the value of every header named like a credential (`Authorization`,
`Cookie`, `Set-Cookie`, `*-Key`, `*-Token`, `*auth*`, `*secret*`,
`*password*`, ...; an authorization scheme and cookie names are kept), the
values of query parameters named like one (`token`, `api_key`, `password`,
`signature`, ...) in the URL and in URL-valued headers, and the password of
a URL's user info. What the target sent is shown through `terminal`, so a
body cannot move the cursor or overwrite a line.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, TextIO
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from yamlswarm.report.terminal import can_colour, one_line, printable

__all__ = ["BODY_HEAD_BYTES", "TracePrinter", "is_secret_header", "mask_header", "mask_url"]

BODY_HEAD_BYTES = 500
VALUE_CHARS = 200  # extracted values are cut to this many characters
MASK = "****"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# a header is a credential when its name ends in -key / -token or holds one of these words;
# a request signature (X-Signature) stays visible: it is bound to its request, and it is
# what one debugs a signing `before_request` hook with
_SECRET_HEADER = re.compile(
    r"(-key|-token)$|auth|secret|passw|cookie|session|credential|apikey|api-key", re.IGNORECASE
)
# a query parameter is one when its name, lowered and without - and _, is or holds one of these
_SECRET_PARAMS = frozenset({"key", "sig", "pwd", "pass", "code", "jwt", "otp", "sid"})
_SECRET_PARAM = re.compile(
    r"token|secret|passw|signature|credential|auth|apikey|privatekey|session|key$", re.IGNORECASE
)
_URL_HEADERS = frozenset({"location", "content-location", "referer", "link"})
_QUERY_PAIR = re.compile(r"([^&=;]*)(=?)([^&;]*)")
_COOKIE_PAIR = re.compile(r"(^|;\s*)([^=;\s]+)=([^;]*)")
_COLOURS = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a credential (by its name)."""
    return name.lower() in SECRET_HEADERS or bool(_SECRET_HEADER.search(name))


def mask_header(name: str, value: str) -> str:
    """The value of a header as shown: secrets replaced by ****, schemes and cookie names kept."""
    lower = name.lower()
    if lower in _URL_HEADERS:
        return mask_url(value)
    if not is_secret_header(lower):
        return value
    if lower in ("authorization", "proxy-authorization"):
        scheme, _, credentials = value.strip().partition(" ")
        return f"{scheme} {MASK}" if credentials else MASK
    if "=" not in value:
        return MASK
    if lower == "set-cookie":  # only the first pair is the cookie; the rest are attributes
        name_part, sep, rest = value.partition(";")
        return _COOKIE_PAIR.sub(lambda m: f"{m[1]}{m[2]}={MASK}", name_part, count=1) + sep + rest
    if lower == "cookie":
        return _COOKIE_PAIR.sub(lambda m: f"{m[1]}{m[2]}={MASK}", value)
    return MASK


def _is_secret_param(name: str) -> bool:
    key = re.sub(r"[-_.\s\[\]]", "", unquote_plus(name)).lower()
    return key in _SECRET_PARAMS or bool(_SECRET_PARAM.search(key))


def mask_url(url: str) -> str:
    """A URL as shown: secret-looking query values and a user info password replaced by ****."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{colon and ':' + MASK}@{hostport}"
    query = _QUERY_PAIR.sub(
        lambda m: f"{m[1]}={MASK}" if m[2] and _is_secret_param(m[1]) else m[0],
        parts.query,
    )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class TracePrinter:
    """Called by the runtime as `trace(user, step, response, error)` after each request."""

    def __init__(self, out: TextIO, mask: bool = True, colour: bool | None = None) -> None:
        self.out = out
        self.mask = mask
        self.colour = can_colour(out) if colour is None else colour  # NO_COLOR, TERM=dumb

    def __call__(self, user: Any, step: Any, response: Any, error: str | None) -> None:
        lines = [self._request_line(user, response)]
        lines += [f"  {self._paint(line, 'dim')}" for line in self._header_lines(response)]
        lines += self._body_lines(response)
        lines += self._extracted_lines(user, step)
        if error is None:
            lines.append(f"  check: {self._paint('ok', 'green')}")
        else:
            lines.append(f"  check: {self._paint(one_line(f'FAILED: {error}'), 'red')}")
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()

    def _request_line(self, user: Any, response: Any) -> str:
        url = mask_url(response.url) if self.mask else response.url
        head = self._paint(one_line(f"{response.method} {url}"), "bold")
        if response.status:
            result = self._paint(_status_text(response.status), _status_colour(response.status))
        else:
            result = self._paint(one_line(f"error: {response.error or 'no response'}"), "red")
        who = f"user {getattr(user, 'id', '?')}, iteration {getattr(user, 'iteration', '?')}"
        return f"{head} -> {result}  {response.elapsed * 1000:.1f} ms  {self._paint(f'[{who}]', 'cyan')}"

    def _header_lines(self, response: Any) -> list[str]:
        """Headers sent (`> `, when the runtime kept them) and received (`< `), curl-style."""
        sent = getattr(response, "sent_headers", None) or []
        received = response.headers.items() if response.status else []
        return [f"> {self._header(k, v)}" for k, v in sent] + [
            f"< {self._header(k, v)}" for k, v in received
        ]

    def _header(self, name: str, value: str) -> str:
        return one_line(f"{name}: {mask_header(name, value) if self.mask else value}")

    def _body_lines(self, response: Any) -> list[str]:
        body: bytes = response.body or b""
        if not body:
            return []
        size = f"{len(body)}{'+' if response.truncated else ''} bytes"
        head = body[:BODY_HEAD_BYTES]
        if b"\x00" in head:
            return [f"  body: <binary, {size}>"]
        text = printable(head.decode("utf-8", errors="replace").rstrip("\n"))
        more = len(body) - len(head)
        if more > 0 or response.truncated:
            text += f" ... ({more}{'+' if response.truncated else ''} more bytes)"
        first, *rest = text.split("\n")  # every other line break is escaped
        return [f"  body ({size}): {first}", *(f"    {line}" for line in rest)]

    def _extracted_lines(self, user: Any, step: Any) -> list[str]:
        extracts = getattr(step, "extract", ()) or ()
        if not extracts:
            return []
        variables = getattr(user, "vars", {}) or {}
        lines = ["  extracted:"]
        for extract in extracts:
            if extract.var in variables:
                shown = repr(variables[extract.var])
                if len(shown) > VALUE_CHARS:
                    shown = shown[:VALUE_CHARS] + "..."
            else:
                shown = self._paint("(not set)", "yellow")
            lines.append(f"    {one_line(extract.var)} = {one_line(shown)}")
        return lines

    def _paint(self, text: str, colour: str) -> str:
        if not self.colour:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _status_colour(status: int) -> str:
    if status >= 400:
        return "red"
    return "yellow" if status >= 300 else "green"
