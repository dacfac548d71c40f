"""A lean HTTP/1.1 client for virtual users: sessions over the connections of `runtime.wire`.

Each virtual user owns one `Session`, the real `Transport` (runtime.http.transport):
its keep-alive connections (one per origin) and its cookie jar. Request heads
are prebuilt where the step is constant (`Request.prepared`, see
`yamlswarm.runtime.request`), so the hot path is: join bytes, send, read and
split the response head. A failed request is data, never an exception
(STYLE 6): every library exception becomes a short error name on the returned
`Response`, through `wire.error_name`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Sequence

import gevent
from gevent import socket as gsocket
from geventhttpclient._parser import HTTPParseError

from yamlswarm.runtime.http.message import (
    DEFAULT_BODY_LIMIT,
    Origin,
    RequestError,
    build_head,
    frame,
    head_flags,
    split_url,
)
from yamlswarm.runtime.http.redirects import MAX_REDIRECTS, REDIRECTS, TOO_MANY, next_hop
from yamlswarm.runtime.http.response import Headers, Response
from yamlswarm.runtime.http.transport import Request, TransportFactory
from yamlswarm.runtime.http.wire import (
    Connection,
    Failure,
    Parser,
    SimpleHead,
    decode_body,
    error_name,
    simple_head,
    tls_context,
)


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


class Session:
    """One virtual user's HTTP state: keep-alive connections per origin and a cookie jar."""

    __slots__ = ("_conns", "base", "connect_timeout", "jar", "verify_tls")

    def __init__(
        self, base: Origin | None, *, verify_tls: bool = True, connect_timeout: float = 10.0
    ) -> None:
        self.base = base
        self.jar = CookieJar()
        self._conns: dict[tuple[str, str, int], Connection] = {}
        self.connect_timeout = connect_timeout
        self.verify_tls = verify_tls

    # -- connections -------------------------------------------------------

    def _connect(self, origin: Origin, timeout: float, verify_tls: bool) -> Connection:
        sock = gsocket.create_connection(
            (origin.host, origin.port), timeout=min(timeout, self.connect_timeout)
        )
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.tls:
                sock = tls_context(verify_tls).wrap_socket(sock, server_hostname=origin.host)
            conn = Connection(sock, timeout, origin.tls)
        except BaseException:
            sock.close()
            raise
        self._conns[origin.key] = conn
        return conn

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    # -- the Transport interface ------------------------------------------------

    def send(self, request: Request) -> Response:
        """Send a `Request`: a prepared one's bytes as they are, any other rendered here."""
        head, origin = request.head, request.origin
        if head is None or origin is None:
            return self._send_rendered(request)
        # the hot path of every constant request step: without cookies, its bytes are all built
        cookie = self.jar.header(origin.host)
        data = request.wire if not cookie else None
        if data is None:
            data = frame(head, origin, request.body, request.method, cookie, request.own)
        verify = request.verify_tls
        response = self.send_raw(
            origin,
            data,
            request.method,
            request.timeout,
            request.keep,
            self.verify_tls if verify is None else verify,
        )
        response.url = request.url
        if response.status in REDIRECTS and request.follow_redirects:
            return self._follow(request, response)
        return response

    # -- one exchange --------------------------------------------------------

    def send_raw(
        self,
        origin: Origin,
        data: bytes,
        method: str,
        timeout: float,
        keep: int,
        verify_tls: bool = True,
    ) -> Response:
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
            except Failure as failure:
                self._drop(origin)
                if failure.retryable:
                    continue
                return Response(method, "", error=failure.name)
            except (OSError, HTTPParseError, gevent.Timeout) as exc:
                self._drop(origin)
                return Response(method, "", error=error_name(exc))
        return Response(method, "", error="ConnectionClosed")

    def _drop(self, origin: Origin) -> None:
        conn = self._conns.pop(origin.key, None)
        if conn is not None:
            conn.close()

    def _roundtrip(
        self, origin: Origin, conn: Connection, data: bytes, method: str, keep: int, may_retry: bool
    ) -> Response:
        timer = conn.timer
        if timer is not None:
            timer.start()
        try:
            return self._exchange(origin, conn, data, method, keep, may_retry)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise Failure("Timeout") from None
        finally:
            if timer is not None:
                timer.cancel()

    def _exchange(
        self, origin: Origin, conn: Connection, data: bytes, method: str, keep: int, may_retry: bool
    ) -> Response:
        try:
            conn.send(data)
            first = conn.recv()
        except (ConnectionResetError, BrokenPipeError):
            if may_retry:  # a stale keep-alive connection: the server closed it meanwhile
                raise Failure("ConnectionClosed", retryable=True) from None
            raise
        if not first:
            raise Failure("ConnectionClosed", retryable=may_retry)
        simple = simple_head(first) if method != "HEAD" else None
        if simple is not None:
            return self._read_simple(origin, conn, first, simple, method, keep)
        return self._read_parsed(origin, conn, first, method, keep)

    def _read_simple(
        self,
        origin: Origin,
        conn: Connection,
        first: bytes,
        head: SimpleHead,
        method: str,
        keep: int,
    ) -> Response:
        """The common response: the whole head in the first read and a Content-Length body."""
        status, headers, start, length, close = head
        limit = min(keep, length)
        kept = [first[start : start + limit]] if limit else []
        kept_size = len(kept[0]) if kept else 0
        got = len(first) - start
        while got < length:
            chunk = conn.recv()
            if not chunk:
                raise Failure("IncompleteResponse")
            got += len(chunk)
            if kept_size < limit:
                piece = chunk[: limit - kept_size]
                kept.append(piece)
                kept_size += len(piece)
        if close or got != length:  # bytes beyond the body: the connection cannot be trusted
            self._drop(origin)
        body = b"".join(kept) if len(kept) > 1 else (kept[0] if kept else b"")
        response = self._response(origin, method, status, headers, body, length > keep)
        response.received_at = conn.received_at()
        return response

    def _read_parsed(
        self, origin: Origin, conn: Connection, first: bytes, method: str, keep: int
    ) -> Response:
        """Everything else (chunked, 1xx, HEAD, split heads, ...) goes through the C parser."""
        parser = Parser(keep, method == "HEAD")
        reusable = True
        chunk = first
        while True:
            if not chunk:
                parser.feed(b"")  # end of a body delimited by connection close
                if not parser.complete:
                    raise Failure("IncompleteResponse")
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
                    parser = Parser(keep, method == "HEAD")
                else:
                    break
            chunk = conn.recv()
        if not (reusable and parser.should_keep_alive()):
            self._drop(origin)
        body = b"".join(parser.parts) if parser.parts else b""
        response = self._response(
            origin, method, parser.get_code(), parser.headers, body, parser.truncated
        )
        response.received_at = conn.received_at()
        return response

    def _response(
        self,
        origin: Origin,
        method: str,
        status: int,
        header_items: list[tuple[str, str]],
        body: bytes,
        truncated: bool,
    ) -> Response:
        headers = Headers(header_items)
        response = Response(method, "", status, headers, body, truncated=truncated)
        if body:
            encoding = headers.get("content-encoding")
            if encoding:
                response.body = decode_body(body, encoding)
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
        request = Request(
            method, url, list(headers), body, timeout, follow_redirects, keep, verify_tls
        )
        return self._send_rendered(request)

    def _send_rendered(self, request: Request) -> Response:
        """A request that is not prepared: its head built here, redirects followed if asked."""
        response = self._send_one(request.method.upper(), request.url, request.headers, request)
        if response.status in REDIRECTS and request.follow_redirects:
            return self._follow(request, response)
        return response

    def _send_one(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], request: Request
    ) -> Response:
        """One exchange of `method url` with `headers` and the request's body and options;
        the response's `url` is the absolute URL sent."""
        verify = self.verify_tls if request.verify_tls is None else request.verify_tls
        body = request.body
        try:
            origin, target = split_url(url, self.base)
            head = build_head(method, target, headers)
        except RequestError as exc:
            return Response(method, url, error=exc.name)
        except ValueError:
            return Response(method, url, error="InvalidURL")
        own = head_flags(headers) if headers else 0
        data = frame(head, origin, body, method, self.jar.header(origin.host), own)
        response = self.send_raw(origin, data, method, request.timeout, request.keep, verify)
        response.url = f"{origin!r}{target}"
        return response

    def _follow(self, request: Request, response: Response) -> Response:
        """Follow redirects from `response` (a redirect of `request`), at most MAX_REDIRECTS;
        `response.redirects` holds the seconds each hop after the first exchange took."""
        method, url = request.method.upper(), response.url
        headers: Sequence[tuple[str, str]] = request.headers
        body = request.body
        times: list[float] = []
        while response.status in REDIRECTS:
            location = response.headers.get("location")
            if not location:
                break
            if len(times) == MAX_REDIRECTS:
                response.error = TOO_MANY
                break
            hop = next_hop(response.status, location, method, url, headers, body)
            method, url, headers, body = hop.method, hop.url, hop.headers, hop.body
            start = time.perf_counter()
            response = self._send_one(method, url, headers, _with_body(request, body))
            times.append(time.perf_counter() - start)
        response.redirects = times
        return response


def _with_body(request: Request, body: bytes) -> Request:
    if body is request.body:
        return request
    return Request(
        request.method,
        request.url,
        (),
        body,
        request.timeout,
        False,
        request.keep,
        request.verify_tls,
    )


def session_factory(base: Origin | None, *, verify_tls: bool = True) -> TransportFactory:
    """A factory of sessions for the users of one run: relative URLs against `base`."""

    def new_session() -> Session:
        return Session(base, verify_tls=verify_tls)

    return new_session


def check_reachable(origin: Origin, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the origin opens, else a readable reason."""
    try:
        sock = gsocket.create_connection((origin.host, origin.port), timeout=timeout)
    except socket.gaierror:
        return f"cannot resolve host {origin.host!r}"
    except ConnectionRefusedError:
        return f"connection refused by {origin!r} (is the server running?)"
    except OSError as exc:
        return f"cannot connect to {origin!r}: {error_name(exc)}"
    sock.close()
    return None
