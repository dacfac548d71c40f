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

from yamlswarm.plan import HttpLimits, TlsSettings
from yamlswarm.runtime.http.cookies import CookieJar
from yamlswarm.runtime.http.decode import DecodeError, decode
from yamlswarm.runtime.http.framing import SimpleHead, past_stray, read_response, simple_head
from yamlswarm.runtime.http.message import (
    DEFAULT_BODY_LIMIT,
    Origin,
    RequestError,
    build_head,
    frame,
    head_flags,
    split_url,
)
from yamlswarm.runtime.http.proxy import Proxy, absolute_form, proxy_for, tunnel
from yamlswarm.runtime.http.redirects import MAX_REDIRECTS, REDIRECTS, next_hop, too_many
from yamlswarm.runtime.http.response import Headers, Response
from yamlswarm.runtime.http.tls import client_context
from yamlswarm.runtime.http.transport import Request, TransportFactory
from yamlswarm.runtime.http.wire import Connection, Failure, error_name

# methods retried automatically on a fresh connection (RFC 9110 9.2.2)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
RECHECK_AFTER = 0.05  # seconds idle after which a pooled connection is checked before reuse


class Session:
    """One virtual user's HTTP state: keep-alive connections per origin and a cookie jar.

    Connections are pooled per origin: an exchange takes an idle one (checked not to have
    been closed by the server meanwhile) or opens a new one, and gives it back when the
    response leaves it usable; so concurrent requests of one user each get their own.
    """

    __slots__ = (
        "_conns",
        "_proxies",
        "base",
        "connect_timeout",
        "jar",
        "limits",
        "max_redirects",
        "proxy",
        "tls",
        "verify_tls",
    )

    def __init__(
        self,
        base: Origin | None,
        *,
        verify_tls: bool = True,
        connect_timeout: float = 10.0,
        tls: TlsSettings | None = None,
        proxy: str | None = None,
        limits: HttpLimits | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.base = base
        self.max_redirects = max_redirects  # hops followed at most (0: none)
        self.jar = CookieJar()
        self._conns: dict[tuple[str, str, int], list[Connection]] = {}  # idle, by origin
        self._proxies: dict[tuple[str, str, int], Proxy | None] = {}
        self.connect_timeout = connect_timeout
        self.verify_tls = verify_tls
        self.tls = tls or TlsSettings(verify=verify_tls)
        self.proxy = proxy
        self.limits = limits or HttpLimits()

    # -- connections -------------------------------------------------------

    def _take(self, origin: Origin, now: float) -> Connection | None:
        """An idle connection to `origin` that the server has not closed meanwhile, if any.

        A plain connection whose last exchange was a plain Content-Length response (the hot
        path) started under `RECHECK_AFTER` ago is taken without asking the socket (that is
        a system call per request); a server closing that soon without `Connection: close`
        is caught by the retry rules."""
        idle = self._conns.get(origin.key)
        while idle:
            conn = idle.pop()
            if (now - conn.last_used < RECHECK_AFTER and conn.tls is None) or not conn.stale():
                conn.last_used = now
                return conn
            conn.close()
        return None

    def _release(self, origin: Origin, conn: Connection) -> None:
        idle = self._conns.get(origin.key)
        if idle is None:
            self._conns[origin.key] = [conn]
        else:
            idle.append(conn)

    def _connect(
        self, origin: Origin, timeout: float, verify_tls: bool, timer: gevent.Timeout
    ) -> Connection:
        """A new connection (through the proxy, if one applies), under the exchange's timer."""
        if origin.key not in self._proxies:
            self._proxies[origin.key] = proxy_for(origin, self.proxy)
        proxy = self._proxies[origin.key]
        peer = origin if proxy is None else proxy.origin
        sock = gsocket.create_connection(
            (peer.host, peer.port), timeout=min(timeout, self.connect_timeout)
        )
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, timer)
            if proxy is not None and origin.tls:
                tunnel(conn, origin, proxy, self.limits)
            elif proxy is not None:
                conn.absolute = (repr(origin).encode("latin-1"), proxy.auth_line)
            if origin.tls:
                conn.start_tls(client_context(self.tls, verify_tls), origin.host)
        except BaseException:
            sock.close()
            raise
        return conn

    def _drop(self, origin: Origin) -> None:
        """Close the idle connections to `origin`."""
        for conn in self._conns.pop(origin.key, ()):
            conn.close()

    def close(self) -> None:
        for idle in self._conns.values():
            for conn in idle:
                conn.close()
        self._conns.clear()

    # -- the Transport interface ------------------------------------------------

    def send(self, request: Request) -> Response:
        """Send a `Request`: a prepared one's bytes as they are, any other rendered here."""
        head, origin = request.head, request.origin
        if head is None or origin is None:
            return self._send_rendered(request)
        # the hot path of every constant request step: without cookies, its bytes are all built
        jar = self.jar
        target = request.target
        cookie = jar.header(origin, target) if jar.active else None
        data = request.wire if cookie is None else None
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
        if "set-cookie" in response.headers:
            response.cookies = jar.update(origin, target, response.headers.get_all("set-cookie"))
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
        """Send complete request bytes and read the response (see `_roundtrip`)."""
        return self._roundtrip(origin, data, method, timeout, keep, verify_tls)

    def _roundtrip(
        self, origin: Origin, data: bytes, method: str, timeout: float, keep: int, verify_tls: bool
    ) -> Response:
        """One exchange within one deadline (`timeout` covers connect, TLS, send and the whole
        response). A reused connection that turns out closed before any byte of a response
        arrived is retried once on a fresh one, for idempotent methods only (RFC 9110 9.2.2)."""
        retry = method in IDEMPOTENT
        for attempt in (0, 1):
            started = time.perf_counter()
            conn = self._take(origin, started) if attempt == 0 else None  # a retry: a new one
            reused = conn is not None
            timer = conn.timer if conn is not None else None
            if timer is None or timer.seconds != timeout:
                timer = gevent.Timeout(timeout)
            timer.start()
            try:
                if conn is None:
                    conn = self._connect(origin, timeout, verify_tls, timer)
                    conn.last_used = started
                conn.timer = timer
                response = self._exchange(
                    origin, conn, data, method, keep, reused and retry and attempt == 0
                )
                response.received_at = conn.received_at(started)
                return response
            except gevent.Timeout as exc:
                if exc is not timer:
                    raise
                error = "Timeout"
            except Failure as failure:
                if failure.retryable and conn is not None:
                    conn.close()
                    continue
                error = failure.name
            except OSError as exc:  # ssl.SSLError included
                error = error_name(exc)
            finally:
                timer.cancel()
            if conn is not None:
                conn.close()
            return Response(method, "", error=error)
        return Response(method, "", error="ConnectionClosed")

    def _exchange(
        self, origin: Origin, conn: Connection, data: bytes, method: str, keep: int, may_retry: bool
    ) -> Response:
        conn.arrived = 0.0
        if conn.absolute is not None:  # through a plain http proxy
            data = absolute_form(data, *conn.absolute)
        try:
            conn.send(data)
            first = conn.recv()
        except (ConnectionResetError, BrokenPipeError):
            if may_retry:  # a stale keep-alive connection: the server closed it meanwhile
                raise Failure("ConnectionClosed", retryable=True) from None
            raise
        if not first:
            raise Failure("ConnectionClosed", retryable=may_retry)
        if conn.stray:  # the previous response announced a body it may not have
            first, conn.stray = past_stray(conn, first, conn.stray), 0
        limits = self.limits
        simple = (
            simple_head(first, limits.max_header_bytes, limits.max_headers)
            if method != "HEAD" and not conn.dirty
            else None
        )
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
        body = b"".join(kept) if len(kept) > 1 else (kept[0] if kept else b"")
        response = self._response(origin, method, status, headers, body, length, keep)
        if close or got != length:  # bytes beyond the body: the connection cannot be trusted
            conn.close()
        else:
            self._release(origin, conn)
        return response

    def _read_parsed(
        self, origin: Origin, conn: Connection, first: bytes, method: str, keep: int
    ) -> Response:
        """Everything else (chunked, 1xx, HEAD, split heads, ...): `framing.read_response`."""
        parsed = read_response(conn, first, method, keep, self.limits)
        response = self._response(
            origin, method, parsed.status, parsed.headers, parsed.body, parsed.size, keep
        )
        if parsed.reusable and not conn.dirty:
            conn.last_used = 0.0  # an unusual response: check the socket before the next one
            conn.stray = parsed.stray
            self._release(origin, conn)
        else:
            conn.close()
        return response

    def _response(
        self,
        origin: Origin,
        method: str,
        status: int,
        header_items: list[tuple[str, str]] | Headers,
        body: bytes,
        size: int,  # of the whole body as framed: more than `keep` means it was cut
        keep: int = DEFAULT_BODY_LIMIT,
    ) -> Response:
        headers = header_items if isinstance(header_items, Headers) else Headers(header_items)
        response = Response(method, "", status, headers, body, truncated=size > keep, size=size)
        if body:
            encoding = headers.get("content-encoding")
            if encoding:
                try:
                    response.body, cut = decode(body, encoding, keep)
                except DecodeError as exc:
                    raise Failure(exc.name) from None
                response.truncated = response.truncated or cut
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
        jar = self.jar
        cookie = jar.header(origin, target) if jar.active else None
        data = frame(head, origin, body, method, cookie, own)
        response = self.send_raw(origin, data, method, request.timeout, request.keep, verify)
        response.url = f"{origin!r}{target}"
        if "set-cookie" in response.headers:
            response.cookies = jar.update(origin, target, response.headers.get_all("set-cookie"))
        return response

    def _follow(self, request: Request, response: Response) -> Response:
        """Follow redirects from `response` (a redirect of `request`), at most `max_redirects`
        (0: none, the redirect is the response); the final response's `redirects` holds the
        seconds each hop after the first exchange took, its `history` the redirect responses."""
        limit = self.max_redirects
        if not limit:
            return response
        method, url = request.method.upper(), response.url
        headers: Sequence[tuple[str, str]] = request.headers
        body = request.body
        times: list[float] = []
        history: list[Response] = []
        while response.status in REDIRECTS:
            location = response.headers.get("location")
            if not location:
                break
            if len(times) == limit:
                response.error = too_many(limit)
                break
            hop = next_hop(response.status, location, method, url, headers, body)
            method, url, headers, body = hop.method, hop.url, hop.headers, hop.body
            history.append(response)
            start = time.perf_counter()
            response = self._send_one(method, url, headers, _with_body(request, body))
            times.append(time.perf_counter() - start)
        response.redirects = times
        response.history = history
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


def session_factory(
    base: Origin | None,
    *,
    verify_tls: bool = True,
    tls: TlsSettings | None = None,
    proxy: str | None = None,
    limits: HttpLimits | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> TransportFactory:
    """A factory of sessions for the users of one run: relative URLs against `base`; the
    connection settings of `defaults` (`tls`, `proxy`, `limits`, `max_redirects`) shared."""
    tls = tls or TlsSettings(verify=verify_tls)
    limits = limits or HttpLimits()

    def new_session() -> Session:
        return Session(
            base,
            verify_tls=verify_tls,
            tls=tls,
            proxy=proxy,
            limits=limits,
            max_redirects=max_redirects,
        )

    return new_session


def check_reachable(origin: Origin, timeout: float = 5.0, proxy: str | None = None) -> str | None:
    """None when a TCP connection to the origin (or the proxy it goes through) opens, else a
    readable reason."""
    try:
        via = proxy_for(origin, proxy)
    except Failure as failure:
        return f"cannot use the proxy for {origin!r}: {failure.name}"
    peer = origin if via is None else via.origin
    what = repr(origin) if via is None else f"the proxy {peer!r}"
    try:
        sock = gsocket.create_connection((peer.host, peer.port), timeout=timeout)
    except socket.gaierror:
        return f"cannot resolve host {peer.host!r}"
    except ConnectionRefusedError:
        return f"connection refused by {what} (is the server running?)"
    except OSError as exc:
        return f"cannot connect to {what}: {error_name(exc)}"
    sock.close()
    return None
