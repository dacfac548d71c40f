"""A lean HTTP/1.1 client for virtual users: gevent sockets plus geventhttpclient's C parser.

Each virtual user owns one `Session`: its keep-alive connections (one per
origin), its cookie jar. Request heads are prebuilt where the step is constant
(see `yamlswarm.runtime.steps`), so the hot path is: join bytes, `sendall`,
`recv` and feed the C parser. Every library exception is translated, here and
only here, into a short error name on the returned `Response` — a failed
request is data, never an exception (STYLE 6).
"""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import sys
import time
import zlib
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import gevent
from gevent import socket as gsocket
from gevent import ssl as gssl
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser

from yamlswarm import __version__
from yamlswarm.runtime.response import Headers, Response

USER_AGENT = f"yamlswarm/{__version__}"
MAX_REDIRECTS = 10
DEFAULT_BODY_LIMIT = 10 * 1024 * 1024  # bytes kept for checks/extraction; the rest is drained
_RECV_SIZE = 65536
# Kernel receive timestamps (Linux): each read also says when its data arrived, so a response
# that waited in the socket while the event loop served other users is not counted as slower.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform.startswith("linux") else None
_ANCILLARY = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = struct.Struct("qq")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Origin:
    """scheme://host:port, with the Host header value and the socket address precomputed."""

    __slots__ = ("scheme", "host", "port", "tls", "host_header", "key")

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self.scheme = scheme
        self.tls = scheme == "https"
        self.host = host
        self.port = port or (443 if self.tls else 80)
        default = 443 if self.tls else 80
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if self.port == default else f"{shown}:{self.port}"
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


class _Parser(HTTPResponseParser):
    """Collects status, headers and (a bounded prefix of) the body of one response."""

    def __init__(self, keep: int, head: bool) -> None:
        super().__init__()
        self.keep = keep
        self.head = head
        self.headers: list[tuple[str, str]] = []
        self.parts: list[bytes] = []
        self.kept = 0
        self.truncated = False
        self.headers_done = False
        self.complete = False
        self._field = ""
        self._value: str | None = None

    def _on_message_begin(self) -> None:
        pass

    def _on_status(self, status: str) -> None:
        pass

    def _on_header_field(self, text: str) -> None:
        if self._value is not None:
            self.headers.append((self._field, self._value))
            self._field, self._value = text, None
        else:
            self._field += text

    def _on_header_value(self, text: str) -> None:
        self._value = text if self._value is None else self._value + text

    def _on_headers_complete(self) -> bool:
        if self._value is not None or self._field:
            self.headers.append((self._field, self._value or ""))
        self.headers_done = True
        return self.head  # True: a HEAD response has no body

    def _on_body(self, buf: bytearray) -> None:
        room = self.keep - self.kept
        if room <= 0:
            self.truncated = True
            return
        if len(buf) > room:
            self.parts.append(bytes(buf[:room]))
            self.kept += room
            self.truncated = True
        else:
            self.parts.append(bytes(buf))
            self.kept += len(buf)

    def _on_message_complete(self) -> None:
        self.complete = True


_SimpleHead = tuple[int, list[tuple[str, str]], int, int, bool]


def _simple_head(data: bytes) -> _SimpleHead | None:
    """(status, headers, body start, Content-Length, close) of a plain HTTP/1.1 response head.

    None for anything unusual — a head split across reads, 1xx/204/304, chunked, no or
    repeated Content-Length, folded or malformed header lines — which the C parser handles.
    Splitting the head in Python is several times cheaper than the parser's per-header
    callbacks into Python.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0 or not data.startswith(b"HTTP/1.1 ") or not data[9:12].isdigit():
        return None
    status = int(data[9:12])
    if status < 200 or status in (204, 304) or data[12:13] not in (b" ", b"\r"):
        return None
    headers: list[tuple[str, str]] = []
    length = -1
    close = False
    for line in data[:end].decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t" or name[0] in " \t":
            return None
        value = value.strip()
        lower = name.lower()
        if lower == "content-length":
            if length >= 0 or not value.isdigit():
                return None
            length = int(value)
        elif lower == "transfer-encoding":
            return None
        elif lower == "connection" and "close" in value.lower():
            close = True
        headers.append((name, value))
    if length < 0:
        return None
    return status, headers, end + 4, length, close


class _Failure(Exception):
    """Internal: a transport failure, already named for the error table."""

    def __init__(self, name: str, retryable: bool = False) -> None:
        super().__init__(name)
        self.name = name
        self.retryable = retryable


def _error_name(exc: BaseException) -> str:
    """The one place where library exceptions become error names."""
    if isinstance(exc, _Failure):
        return exc.name
    if isinstance(exc, (socket.timeout, TimeoutError, gevent.Timeout)):
        return "Timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "ConnectionRefused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "ConnectionReset"
    if isinstance(exc, socket.gaierror):
        return "NameResolutionFailed"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLSCertificateInvalid"
    if isinstance(exc, ssl.SSLError):
        return f"TLSError: {exc.reason or exc}"
    if isinstance(exc, HTTPParseError):
        return "MalformedResponse"
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return f"OSError: {name}"
    return type(exc).__name__


class _Connection:
    """One keep-alive connection.

    Plain TCP (the common, hot case) talks to the non-blocking socket under gevent's
    wrapper directly and waits for readability itself, with one reusable `gevent.Timeout`
    bounding each whole exchange: gevent's own `sendall`/`recv` would add a system call
    and a fresh timer per operation. TLS keeps gevent's socket with per-operation timeouts.
    """

    __slots__ = ("sock", "raw", "timer", "timeout", "used", "stamped", "arrived")

    def __init__(self, sock: gsocket.socket, timeout: float, tls: bool) -> None:
        self.sock = sock
        self.used = False
        self.timeout = timeout
        self.stamped = False
        self.arrived = 0.0  # wall-clock time the last read's data reached the socket (0: unknown)
        if tls:
            self.raw = None
            self.timer: gevent.Timeout | None = None
            sock.settimeout(timeout)
        else:
            self.raw = sock._sock  # the OS socket gevent keeps non-blocking
            self.timer = gevent.Timeout(timeout)
            sock.settimeout(None)
            if _SO_TIMESTAMPNS is not None:
                try:
                    self.raw.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                    self.stamped = True
                except OSError:
                    pass

    def set_timeout(self, timeout: float) -> None:
        self.timeout = timeout
        if self.raw is None:
            self.sock.settimeout(timeout)
        else:
            self.timer = gevent.Timeout(timeout)

    def send(self, data: bytes) -> None:
        raw = self.raw
        if raw is None:
            self.sock.sendall(data)
            return
        try:
            sent = raw.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):  # the send buffer is full: let gevent wait for room
            self.sock.sendall(memoryview(data)[sent:])

    def recv(self) -> bytes:
        raw = self.raw
        if raw is None:
            return self.sock.recv(_RECV_SIZE)
        sock = self.sock
        while True:
            sock._wait(sock._read_event)  # data is rarely there yet: wait first, then read
            try:
                if not self.stamped:
                    return raw.recv(_RECV_SIZE)
                data, ancillary, _, _ = raw.recvmsg(_RECV_SIZE, _ANCILLARY)
            except BlockingIOError:
                continue
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                    self.arrived = seconds + nanoseconds * 1e-9
            return data

    def received_at(self) -> float | None:
        """When the last read's data arrived, on the perf_counter clock (None: unknown)."""
        if not self.arrived:
            return None
        waited = time.time() - self.arrived  # how long the data sat in the socket
        return time.perf_counter() - (waited if waited > 0 else 0.0)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


_TLS_VERIFY: ssl.SSLContext | None = None
_TLS_NOVERIFY: ssl.SSLContext | None = None


def _tls_context(verify: bool) -> ssl.SSLContext:
    global _TLS_VERIFY, _TLS_NOVERIFY
    if verify:
        if _TLS_VERIFY is None:
            _TLS_VERIFY = gssl.create_default_context()
        return _TLS_VERIFY
    if _TLS_NOVERIFY is None:
        context = gssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _TLS_NOVERIFY = context
    return _TLS_NOVERIFY


class CookieJar:
    """A virtual user's cookies, by host; sent back as a browser would (path and domain kept simple)."""

    __slots__ = ("_by_host",)

    def __init__(self) -> None:
        self._by_host: dict[str, dict[str, str]] = {}

    def header(self, host: str) -> str | None:
        cookies = self._by_host.get(host)
        if not cookies:
            return None
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def update(self, host: str, set_cookies: Iterable[str]) -> dict[str, str]:
        """Store the Set-Cookie values of one response; returns the cookies it set."""
        jar = self._by_host.setdefault(host, {})
        fresh: dict[str, str] = {}
        for line in set_cookies:
            pair, _, attrs = line.partition(";")
            name, eq, value = pair.partition("=")
            name = name.strip()
            if not eq or not name:
                continue
            value = value.strip().strip('"')
            lowered = attrs.lower().replace(" ", "")
            if "max-age=0" in lowered or "max-age=-" in lowered or _expired(attrs):
                jar.pop(name, None)
                continue
            jar[name] = value
            fresh[name] = value
        return fresh

    def get(self, host: str, name: str) -> str | None:
        return self._by_host.get(host, {}).get(name)

    def clear(self) -> None:
        self._by_host.clear()


def _expired(attrs: str) -> bool:
    for attr in attrs.split(";"):
        key, _, value = attr.partition("=")
        if key.strip().lower() == "expires":
            try:
                from email.utils import parsedate_to_datetime

                return parsedate_to_datetime(value.strip()).timestamp() < time.time()
            except (TypeError, ValueError):
                return False
    return False


def _decode(body: bytes, encoding: str | None) -> bytes:
    if not encoding or not body:
        return body
    encoding = encoding.lower()
    try:
        if encoding == "gzip":
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error:
        return body
    return body


class Session:
    """One virtual user's HTTP state: keep-alive connections per origin and a cookie jar."""

    __slots__ = ("base", "jar", "_conns", "connect_timeout", "verify_tls")

    def __init__(self, base: Origin | None, *, verify_tls: bool = True,
                 connect_timeout: float = 10.0) -> None:
        self.base = base
        self.jar = CookieJar()
        self._conns: dict[tuple[str, str, int], _Connection] = {}
        self.connect_timeout = connect_timeout
        self.verify_tls = verify_tls

    # -- connections -------------------------------------------------------

    def _connect(self, origin: Origin, timeout: float, verify_tls: bool) -> _Connection:
        sock = gsocket.create_connection((origin.host, origin.port),
                                         timeout=min(timeout, self.connect_timeout))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.tls:
                sock = _tls_context(verify_tls).wrap_socket(sock, server_hostname=origin.host)
            conn = _Connection(sock, timeout, origin.tls)
        except BaseException:
            sock.close()
            raise
        self._conns[origin.key] = conn
        return conn

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    # -- one exchange --------------------------------------------------------

    def exchange(self, origin: Origin, head: bytes, body: bytes, method: str, timeout: float,
                 keep: int, verify_tls: bool = True) -> Response:
        """Send a prebuilt request head (without its final CRLF) and body; read the response.

        `head` holds the request line and headers, each line ending in CRLF;
        the Host, Cookie and Content-Length lines are added here.
        """
        cookie = self.jar.header(origin.host) if self.jar._by_host else None
        extra = f"Host: {origin.host_header}\r\n"
        if cookie:
            extra += f"Cookie: {cookie}\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            extra += f"Content-Length: {len(body)}\r\n"
        data = head + extra.encode("latin-1") + b"\r\n" + body
        return self.send_raw(origin, data, method, timeout, keep, verify_tls)

    def send_raw(self, origin: Origin, data: bytes, method: str, timeout: float, keep: int,
                 verify_tls: bool = True) -> Response:
        """Send complete request bytes; retry once when a reused keep-alive connection was stale."""
        for attempt in (0, 1):
            conn = self._conns.get(origin.key)
            try:
                if conn is None:
                    conn = self._connect(origin, timeout, verify_tls)
                elif conn.timeout != timeout:
                    conn.set_timeout(timeout)
                reused = conn.used
                conn.used = True
                return self._roundtrip(origin, conn, data, method, keep, reused and attempt == 0)
            except _Failure as failure:
                self._drop(origin)
                if failure.retryable:
                    continue
                return Response(method, "", error=failure.name)
            except (OSError, HTTPParseError, gevent.Timeout) as exc:
                self._drop(origin)
                return Response(method, "", error=_error_name(exc))
        return Response(method, "", error="ConnectionClosed")

    def _drop(self, origin: Origin) -> None:
        conn = self._conns.pop(origin.key, None)
        if conn is not None:
            conn.close()

    def _roundtrip(self, origin: Origin, conn: _Connection, data: bytes, method: str, keep: int,
                   may_retry: bool) -> Response:
        timer = conn.timer
        if timer is not None:
            timer.start()
        try:
            return self._exchange(origin, conn, data, method, keep, may_retry)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise _Failure("Timeout") from None
        finally:
            if timer is not None:
                timer.cancel()

    def _exchange(self, origin: Origin, conn: _Connection, data: bytes, method: str, keep: int,
                  may_retry: bool) -> Response:
        try:
            conn.send(data)
            first = conn.recv()
        except (ConnectionResetError, BrokenPipeError):
            if may_retry:  # a stale keep-alive connection: the server closed it meanwhile
                raise _Failure("ConnectionClosed", retryable=True) from None
            raise
        if not first:
            raise _Failure("ConnectionClosed", retryable=may_retry)
        simple = _simple_head(first) if method != "HEAD" else None
        if simple is not None:
            return self._read_simple(origin, conn, first, simple, method, keep)
        return self._read_parsed(origin, conn, first, method, keep)

    def _read_simple(self, origin: Origin, conn: _Connection, first: bytes, head: _SimpleHead,
                     method: str, keep: int) -> Response:
        """The common response: the whole head in the first read and a Content-Length body."""
        status, headers, start, length, close = head
        limit = min(keep, length)
        kept = [first[start:start + limit]] if limit else []
        kept_size = len(kept[0]) if kept else 0
        got = len(first) - start
        while got < length:
            chunk = conn.recv()
            if not chunk:
                raise _Failure("IncompleteResponse")
            got += len(chunk)
            if kept_size < limit:
                piece = chunk[:limit - kept_size]
                kept.append(piece)
                kept_size += len(piece)
        if close or got != length:  # bytes beyond the body: the connection cannot be trusted
            self._drop(origin)
        body = b"".join(kept) if len(kept) > 1 else (kept[0] if kept else b"")
        response = self._response(origin, method, status, headers, body, length > keep)
        response.received_at = conn.received_at()
        return response

    def _read_parsed(self, origin: Origin, conn: _Connection, first: bytes, method: str,
                     keep: int) -> Response:
        """Everything else (chunked, 1xx, HEAD, split heads, ...) goes through the C parser."""
        parser = _Parser(keep, method == "HEAD")
        reusable = True
        chunk = first
        while True:
            if not chunk:
                parser.feed(b"")  # end of a body delimited by connection close
                if not parser.complete:
                    raise _Failure("IncompleteResponse")
            else:
                try:
                    parser.feed(chunk)
                except HTTPParseError:
                    if not parser.complete:
                        raise
                    # bytes after a complete message (e.g. a body sent in reply to HEAD):
                    # the response stands, the connection cannot be trusted any more
                    reusable = False
            if parser.complete:
                if parser.get_code() < 200:  # interim 1xx response: the final one follows
                    parser = _Parser(keep, method == "HEAD")
                else:
                    break
            chunk = conn.recv()
        if not (reusable and parser.should_keep_alive()):
            self._drop(origin)
        body = b"".join(parser.parts) if parser.parts else b""
        response = self._response(origin, method, parser.get_code(), parser.headers, body,
                                  parser.truncated)
        response.received_at = conn.received_at()
        return response

    def _response(self, origin: Origin, method: str, status: int,
                  header_items: list[tuple[str, str]], body: bytes, truncated: bool) -> Response:
        headers = Headers(header_items)
        response = Response(method, "", status, headers, body, truncated=truncated)
        if body:
            encoding = headers.get("content-encoding")
            if encoding:
                response.body = _decode(body, encoding)
        if "set-cookie" in headers:
            response.cookies = self.jar.update(origin.host, headers.get_all("set-cookie"))
        return response

    # -- the general path (hooks, redirects, traces) --------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float = 30.0,
        follow_redirects: bool = True,
        keep: int = DEFAULT_BODY_LIMIT,
        verify_tls: bool | None = None,
    ) -> Response:
        """Build, send and (optionally) follow redirects; the response's `url` is the final URL."""
        verify = self.verify_tls if verify_tls is None else verify_tls
        method = method.upper()
        header_list = list(headers)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                origin, target = split_url(url, self.base)
            except ValueError:
                return Response(method, url, error="InvalidURL")
            head = build_head(method, target, header_list)
            response = self.exchange(origin, head, body, method, timeout, keep, verify)
            response.url = url
            if not (follow_redirects and response.status in _REDIRECTS):
                return response
            location = response.headers.get("location")
            if not location:
                return response
            url = urljoin(f"{origin!r}{target}", location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", b""
                header_list = [(k, v) for k, v in header_list if k.lower() != "content-type"]
        response.error = "TooManyRedirects"
        return response


def build_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Request line and header lines (CRLF-terminated), without Host/Cookie/Content-Length."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    names = set()
    for name, value in headers:
        names.add(name.lower())
        lines.append(f"{name}: {value}\r\n")
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}\r\n")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    return "".join(lines).encode("latin-1", errors="replace")


def check_reachable(origin: Origin, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the origin opens, else a readable reason."""
    try:
        sock = gsocket.create_connection((origin.host, origin.port), timeout=timeout)
    except socket.gaierror:
        return f"cannot resolve host {origin.host!r}"
    except ConnectionRefusedError:
        return f"connection refused by {origin!r} (is the server running?)"
    except OSError as exc:
        return f"cannot connect to {origin!r}: {_error_name(exc)}"
    sock.close()
    return None
