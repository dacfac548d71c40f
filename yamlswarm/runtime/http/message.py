"""HTTP messages without I/O: origins, URL splitting, request heads and framing.

Pure functions and small value types shared by the request steps (which
prebuild heads once, at build time) and the sessions that send them. Nothing
here imports gevent or touches a socket, so step builders and the compiler
can use it freely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, urlsplit

from yamlswarm import __version__

USER_AGENT = f"yamlswarm/{__version__}"
DEFAULT_BODY_LIMIT = 10 * 1024 * 1024  # bytes kept for checks/extraction; the rest is drained
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # always send a Content-Length, even 0

# headers the framing adds unless the user set them (bits of `HeadFlags`)
OWN_HOST, OWN_COOKIE, OWN_LENGTH = 1, 2, 4
_OWN_BITS = {"host": OWN_HOST, "cookie": OWN_COOKIE, "content-length": OWN_LENGTH}


class RequestError(ValueError):
    """A request that cannot be sent as written; `name` is the error recorded for it."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name


class Origin:
    """scheme://host:port, with the Host header value and the socket address precomputed."""

    __slots__ = ("host", "host_header", "host_line", "key", "path", "port", "scheme", "tls")

    def __init__(self, scheme: str, host: str, port: int | None, path: str = "") -> None:
        self.scheme = scheme
        self.path = path.rstrip("/")  # a base URL's path: relative step URLs go below it
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
    """The origin of an absolute http(s) URL (its path kept as the base path, an IDNA host
    encoded); raises ValueError for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RequestError("invalid URL", f"{url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return Origin(parts.scheme, _ascii_host(parts.hostname), port, parts.path)


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise RequestError("invalid URL", f"host {host!r} is not a valid IDNA name") from None


_UNSAFE = "\r\n\x00"
# what a request target may carry as it is (RFC 3986 reserved and unreserved, and '%')
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
_PLAIN_TARGET = re.compile(r"(?:[A-Za-z0-9\-._~!#$&'()*+,/:;=?@\[\]]|%[0-9A-Fa-f]{2})*")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


_NOT_PLAIN = re.compile(r"[^A-Za-z0-9\-._~!#$&'()*+,/:;=?@\[\]%]")  # CR, LF, NUL among them


def encode_target(target: str) -> str:
    """Percent-encode a request target as browsers and requests do: spaces and non-ASCII
    become UTF-8 %XX, an existing %XX and the reserved characters stay."""
    if _NOT_PLAIN.search(target) is None and (
        "%" not in target or _LONE_PERCENT.search(target) is None
    ):
        return target  # the common target, already plain: one scan
    if any(c in target for c in _UNSAFE):
        raise RequestError("invalid URL", f"control character in {target!r}")
    if _PLAIN_TARGET.fullmatch(target):
        return target
    return quote(_LONE_PERCENT.sub("%25", target), safe=_TARGET_SAFE)


def split_url(url: str, base: Origin | None) -> tuple[Origin, str]:
    """(origin, request target) of a URL: absolute, or a path relative to `base` (below the
    base URL's path, with exactly one slash between them)."""
    if url.startswith(("http://", "https://")):
        if any(c in url for c in _UNSAFE):
            raise RequestError("invalid URL", f"control character in {url!r}")
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        origin = parse_origin(f"{parts.scheme}://{parts.netloc}")
        return origin, encode_target(target)
    if base is None:
        raise ValueError(f"relative URL {url!r} needs a host (scenario 'host' or --host)")
    path = url if url.startswith("/") else "/" + url
    return base, encode_target(base.path + path if base.path else path)


_USER_AGENT_LINE = f"User-Agent: {USER_AGENT}\r\n"
_ACCEPT_ENCODING_LINE = "Accept-Encoding: gzip, deflate\r\n"


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


# header names and methods already found to be tokens -> what they are (bounded, so a run of
# ever-new names costs the checks, not memory)
_AGENT, _ENCODING = 1, 2
_KNOWN_NAMES: dict[str, int] = {}
_KNOWN_METHODS: set[str] = set()
_KNOWN_MAX = 4096


def build_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Request line and header lines (CRLF-terminated), without the Host/Cookie/Content-Length
    the framing adds (`head_flags` says which of them the user set). Raises `RequestError`
    for a method, target, header name or value that would break the request head.

    Names and methods seen before are not checked again, and the values' CR/LF/NUL check is
    one count over the whole head; anything unusual takes the checked path, which raises
    the error of the first offending item."""
    if method not in _KNOWN_METHODS:
        return _checked_head(method, target, headers)
    known = _KNOWN_NAMES
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    seen = 0
    for name, value in headers:
        kind = known.get(name)
        if kind is None:
            return _checked_head(method, target, headers)
        seen |= kind
        lines.append(f"{name}: {value}\r\n")
    if not seen & _AGENT:
        lines.append(_USER_AGENT_LINE)
    if not seen & _ENCODING:
        lines.append(_ACCEPT_ENCODING_LINE)
    text = "".join(lines)
    count = len(lines)  # one CRLF per line, and no other CR, LF or NUL anywhere
    if text.count("\n") != count or text.count("\r") != count or "\x00" in text or " " in target:
        return _checked_head(method, target, headers)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return _checked_head(method, target, headers)


def _checked_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """`build_head` checking every item in order; remembers the valid names and method."""
    if not _TOKEN.fullmatch(method):
        raise RequestError("invalid method", repr(method))
    if " " in target or _BAD_VALUE.search(target):
        raise RequestError("invalid URL", repr(target))
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    agent = encoding = True  # still to add
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise RequestError("invalid header name", repr(name))
        if _BAD_VALUE.search(value):
            raise RequestError("invalid header value", f"{name}: {value!r}")
        lower = name.lower()
        if lower == "user-agent":
            agent = False
        elif lower == "accept-encoding":
            encoding = False
        if len(_KNOWN_NAMES) < _KNOWN_MAX:
            _KNOWN_NAMES[name] = (
                _AGENT if lower == "user-agent" else _ENCODING if lower == "accept-encoding" else 0
            )
        lines.append(f"{name}: {value}\r\n")
    if agent:
        lines.append(_USER_AGENT_LINE)
    if encoding:
        lines.append(_ACCEPT_ENCODING_LINE)
    text = "".join(lines)
    try:
        head = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise RequestError("invalid header value", f"{bad!r} is not Latin-1") from None
    if len(_KNOWN_METHODS) < _KNOWN_MAX:
        _KNOWN_METHODS.add(method)
    return head


def head_flags(headers: Iterable[tuple[str, str]]) -> int:
    """Which of Host, Cookie and Content-Length the user set (OWN_* bits): those replace ours."""
    flags = 0
    for name, _ in headers:
        flags |= _OWN_BITS.get(name.lower(), 0)
    return flags


def frame(
    head: bytes,
    origin: Origin,
    body: bytes,
    method: str,
    cookie: str | None = None,
    own: int = 0,
) -> bytes:
    """The whole request as sent: a head from `build_head`, then Host, Cookie, Content-Length
    (each unless the user set it: `own`), the blank line and the body."""
    parts = [head] if own & OWN_HOST else [head, origin.host_line]
    if cookie and not own & OWN_COOKIE:
        parts.append(f"Cookie: {cookie}\r\n".encode("latin-1"))
    if (body or method in _BODY_METHODS) and not own & OWN_LENGTH:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)
