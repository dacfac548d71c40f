"""The one redirect policy (RFC 9110 15.4), for request steps and `user.request` alike.

`next_hop` turns a redirect response into the next request: 303 becomes
GET (HEAD stays HEAD), a 301/302 POST becomes GET as browsers do; a hop whose
method changed loses its body and body headers, any other (307/308 always)
keeps the method, the body and the headers. Past `defaults.max_redirects` hops (default
10) the request fails with `too many redirects (N)`. Credentials
(`Authorization`, `Proxy-Authorization`) are dropped when the origin changes,
except for an http -> https upgrade on the same host and default ports; a
`Cookie` header is always dropped, so the jar decides again for the new URL.
Pure functions: nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10  # `defaults.max_redirects` unless set (0: redirects are not followed)


def too_many(limit: int) -> str:
    """The error of a request still redirected after `limit` hops."""
    return f"too many redirects ({limit})"


_CREDENTIALS = frozenset({"authorization", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})

Headers = Sequence[tuple[str, str]]


class Hop:
    """The request a redirect leads to."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Headers, body: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


def redirect_method(status: int, method: str) -> str:
    """The method of the next hop after a redirect `status`."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def same_origin_for_credentials(old: str, new: str) -> bool:
    """True when credentials may follow from `old` to `new`: the same origin, or an upgrade
    from http to https on the same host with default ports."""
    a, b = _origin(old), _origin(new)
    if a == b:
        return True
    return a == ("http", b[1], 80) and b == ("https", a[1], 443)


def next_hop(
    status: int, location: str, method: str, url: str, headers: Headers, body: bytes
) -> Hop:
    """The next request after a redirect of `method url` (absolute) to `location`."""
    target = urljoin(url, location.strip())
    new_method = redirect_method(status, method)
    keep_credentials = same_origin_for_credentials(url, target)
    same_origin = _origin(url) == _origin(target)
    drop_body = new_method != method
    kept = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie" or (lower == "host" and not same_origin):
            continue
        if lower in _CREDENTIALS and not keep_credentials:
            continue
        if drop_body and lower in _BODY_HEADERS:
            continue
        kept.append((name, value))
    return Hop(new_method, target, kept, b"" if drop_body else body)
