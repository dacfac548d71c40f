"""HTTP messages without I/O: origins, URL splitting, request heads and framing.

Pure functions and small value types shared by the request steps (which
prebuild heads once, at build time) and the sessions that send them. Nothing
here imports gevent or touches a socket, so step builders and the compiler
can use it freely.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from yamlswarm import __version__

USER_AGENT = f"yamlswarm/{__version__}"
DEFAULT_BODY_LIMIT = 10 * 1024 * 1024  # bytes kept for checks/extraction; the rest is drained
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # always send a Content-Length, even 0


class Origin:
    """scheme://host:port, with the Host header value and the socket address precomputed."""

    __slots__ = ("host", "host_header", "host_line", "key", "port", "scheme", "tls")

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self.scheme = scheme
        self.tls = scheme == "https"
        self.host = host
        self.port = port or (443 if self.tls else 80)
        default = 443 if self.tls else 80
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if self.port == default else f"{shown}:{self.port}"
        self.host_line = f"Host: {self.host_header}\r\n".encode("latin-1")  # once, not per request
        self.key = (scheme, host, self.port)

    def __repr__(self) -> str:
        return f"{self.scheme}://{self.host_header}"


@lru_cache(maxsize=1024)
def parse_origin(url: str) -> Origin:
    """The origin of an absolute http(s) URL; raises ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return Origin(parts.scheme, parts.hostname, parts.port)


def split_url(url: str, base: Origin | None) -> tuple[Origin, str]:
    """(origin, request target) of a URL: absolute, or a path relative to `base`."""
    if url.startswith("/"):
        if base is None:
            raise ValueError(f"relative URL {url!r} needs a host (scenario 'host' or --host)")
        return base, url
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        return parse_origin(f"{parts.scheme}://{parts.netloc}"), target
    if base is None:
        raise ValueError(f"relative URL {url!r} needs a host (scenario 'host' or --host)")
    return base, "/" + url


_USER_AGENT_LINE = f"User-Agent: {USER_AGENT}\r\n"
_ACCEPT_ENCODING_LINE = "Accept-Encoding: gzip, deflate\r\n"


def build_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Request line and header lines (CRLF-terminated), without Host/Cookie/Content-Length."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    agent = encoding = True  # still to add
    for name, value in headers:
        lower = name.lower()
        if lower == "user-agent":
            agent = False
        elif lower == "accept-encoding":
            encoding = False
        lines.append(f"{name}: {value}\r\n")
    if agent:
        lines.append(_USER_AGENT_LINE)
    if encoding:
        lines.append(_ACCEPT_ENCODING_LINE)
    return "".join(lines).encode("latin-1", errors="replace")


def frame(
    head: bytes, origin: Origin, body: bytes, method: str, cookie: str | None = None
) -> bytes:
    """The whole request as sent: a head from `build_head`, then Host, Cookie, Content-Length,
    the blank line and the body."""
    parts = [head, origin.host_line]
    if cookie:
        parts.append(f"Cookie: {cookie}\r\n".encode("latin-1"))
    if body or method in _BODY_METHODS:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)
