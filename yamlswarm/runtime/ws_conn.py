"""One client WebSocket connection: wsproto (sans-IO) over a gevent socket, with our timeouts.

wsproto only turns bytes into events and back, so the socket, its timeouts and TLS
(`ssl` over the gevent socket, `runtime.http.tls.client_context`) stay ours. A proxy
applies as for http (`runtime.http.proxy`: `defaults.proxy`, else HTTP_PROXY for ws://
and HTTPS_PROXY for wss://, NO_PROXY), through a CONNECT tunnel for both, as browsers do. Every
failure leaves here as a `WsFailure` carrying a short, stable error name
("ConnectionRefused", "WS handshake rejected: HTTP 403", "WS closed by peer
(code 1011)", ...). Loaded by name from `runtime.ws` at build time, so compiling
a scenario never imports gevent.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from urllib.parse import urlsplit

import gevent
from gevent import socket as gsocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from yamlswarm.plan import HttpLimits, TlsSettings
from yamlswarm.runtime.http.message import Origin
from yamlswarm.runtime.http.proxy import Proxy, proxy_for, tunnel
from yamlswarm.runtime.http.tls import client_context
from yamlswarm.runtime.http.wire import Connection, error_name

__all__ = ["MAX_MESSAGE", "WsConnection", "WsFailure", "connect"]

RECV_SIZE = 65536
MAX_MESSAGE = 16 * 1024 * 1024  # a bigger message drops the connection (memory stays bounded)
_NO_SETTINGS = TlsSettings()  # the system's CAs, no client certificate


class WsFailure(Exception):
    """A connection failure, already named for the error table (`name`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class WsTimeout(WsFailure):
    """No message within the timeout; the connection stays usable."""


class WsConnection:
    """An open client connection: `send`, `receive`, `close`; `closed` once it is gone."""

    __slots__ = (
        "_parts",
        "_size",
        "accepted",
        "closed",
        "messages",
        "reason",
        "sock",
        "subprotocol",
        "ws",
    )

    def __init__(self, sock: gsocket.socket, ws: WSConnection) -> None:
        self.sock = sock
        self.ws = ws
        self.accepted = False  # the handshake succeeded (a close may follow in the same read)
        self.closed = False
        self.reason = "WS connection closed"  # why it is closed (the error of later steps)
        self.subprotocol: str | None = None
        self.messages: deque[bytes] = deque()
        self._parts: list[bytes] = []
        self._size = 0

    # -- sending -----------------------------------------------------------

    def send(self, data: str | bytes) -> str | None:
        """Send one message (a str as text, bytes as binary); None, or the error name."""
        if self.closed:
            return self.reason
        message: Message = TextMessage(data) if isinstance(data, str) else BytesMessage(data)
        try:
            self.sock.sendall(self.ws.send(message))
        except Exception as exc:  # a broken socket or protocol state: the connection is gone
            self.drop(error_name(exc))
            return self.reason
        return None

    # -- receiving ---------------------------------------------------------

    def receive(self, timeout: float) -> bytes:
        """The next whole message (text as UTF-8); raises WsTimeout or WsFailure."""
        deadline = time.monotonic() + timeout
        while not self.messages:
            if self.closed:
                raise WsFailure(self.reason)
            self._read(deadline)
        return self.messages.popleft()

    def _read(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WsTimeout("Timeout")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(RECV_SIZE)
        except TimeoutError:
            raise WsTimeout("Timeout") from None
        except Exception as exc:
            self.drop(error_name(exc))
            return
        if not data:
            self.drop("WS closed by peer without a close frame")
            return
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._on_event(event)
        except WsFailure:
            raise
        except Exception as exc:  # wsproto's RemoteProtocolError and friends
            self.drop(f"WS protocol error: {type(exc).__name__}")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (TextMessage, BytesMessage)):
            data = event.data
            part = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            self._size += len(part)
            if self._size > MAX_MESSAGE:
                self.drop(f"WS message larger than {MAX_MESSAGE // (1024 * 1024)} MiB")
                return
            self._parts.append(part)
            if event.message_finished:
                self.messages.append(b"".join(self._parts))
                self._parts.clear()
                self._size = 0
        elif isinstance(event, Ping):
            self._send_quietly(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            if self.ws.state is ConnectionState.REMOTE_CLOSING:  # the peer began: answer it
                self._send_quietly(self.ws.send(event.response()))
                self.drop(f"WS closed by peer (code {event.code})")
            else:  # the answer to our own close
                self.drop("WS connection closed")
        elif isinstance(event, AcceptConnection):
            self.accepted = True
            self.subprotocol = event.subprotocol
        elif isinstance(event, RejectConnection):
            raise WsFailure(f"WS handshake rejected: HTTP {event.status_code}")

    def _send_quietly(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except Exception:
            pass

    # -- closing -----------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "", wait: float = 0.0) -> None:
        """Say goodbye with `code`; wait up to `wait` seconds for the peer's close, then drop."""
        if self.closed:
            return
        self._send_quietly(self.ws.send(CloseConnection(code=code, reason=reason or None)))
        deadline = time.monotonic() + wait
        try:
            while not self.closed and time.monotonic() < deadline:
                self._read(deadline)
        except WsFailure:
            pass
        self.drop("WS connection closed")

    def drop(self, reason: str) -> None:
        """Close the socket; later steps fail as `reason`."""
        if not self.closed:
            self.closed = True
            self.reason = reason
        try:
            self.sock.close()
        except OSError:
            pass


def connect(
    url: str,
    headers: list[tuple[str, str]],
    subprotocols: tuple[str, ...],
    timeout: float,
    verify_tls: bool,
    tls_settings: TlsSettings = _NO_SETTINGS,
    proxy: str | None = None,
) -> WsConnection:
    """Open `url` (ws:// or wss://) and finish the handshake within `timeout`; raises WsFailure.
    A wss:// connection uses the shared client context of `tls_settings` (`defaults.tls`);
    `proxy` is `defaults.proxy` (None: the environment's, see the module docstring)."""
    parts = urlsplit(url)
    tls = parts.scheme == "wss"
    host = parts.hostname or ""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    origin = Origin("https" if tls else "http", host, parts.port or (443 if tls else 80))
    try:
        via = proxy_for(origin, proxy)
        peer = origin if via is None else via.origin
        sock = gsocket.create_connection((peer.host, peer.port), timeout)
    except Exception as exc:
        raise WsFailure(error_name(exc)) from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if via is not None:
            _tunnel(sock, origin, via, timeout)
        if tls:
            context = client_context(tls_settings, verify_tls)
            sock = context.wrap_socket(sock, server_hostname=host)
        ws = WSConnection(ConnectionType.CLIENT)
        request = Request(
            host=parts.netloc,
            target=target,
            extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            subprotocols=list(subprotocols),
        )
        sock.sendall(ws.send(request))
        conn = WsConnection(sock, ws)
        deadline = time.monotonic() + timeout
        while not conn.accepted and not conn.closed:
            conn._read(deadline)
    except WsFailure:
        sock.close()
        raise
    except Exception as exc:
        sock.close()
        raise WsFailure(error_name(exc)) from None
    if not conn.accepted:
        raise WsFailure(conn.reason)
    return conn


def _tunnel(sock: gsocket.socket, origin: Origin, via: Proxy, timeout: float) -> None:
    """A CONNECT tunnel to `origin` through the proxy `via`, within `timeout`."""
    timer = gevent.Timeout(timeout, TimeoutError("Timeout"))
    timer.start()
    try:
        tunnel(Connection(sock, timer), origin, via, HttpLimits())  # clears the socket timeout
    finally:
        timer.close()
    sock.settimeout(timeout)  # again: for the TLS and WebSocket handshakes
