"""A real WebSocket server on loopback for integration tests (the `websockets` package, asyncio).

`WsServer(mode)` runs in a background thread on 127.0.0.1 port 0 and counts what it
sees: `connections`, `received` (messages from clients), `sent` (messages to them),
`closed` (connections that ended), `paths` and `headers` of each handshake. Modes:

- "echo": answers every message with itself (text stays text, binary stays binary);
  a text message `chat:N:TEXT` is answered by N-1 `noise` messages, then `TEXT`;
- "reject": refuses every handshake with HTTP 403;
- "close": accepts, then closes at once with code 1011;
- "silent": accepts and reads, never answers.

`tls=(certfile, keyfile)` serves wss://.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

HOST = "127.0.0.1"


def _octets(message: str | bytes) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else message


class WsServer:
    def __init__(
        self, mode: str = "echo", tls: tuple[str, str] | None = None, client_ca: str | None = None
    ) -> None:
        self.mode = mode
        self.tls = tls
        self.client_ca = client_ca  # set: a client certificate signed by it is required
        self.client_names: list[str] = []  # the client certificates' common names, per connection
        self.connections = 0
        self.received = 0
        self.sent = 0
        self.received_bytes = self.sent_bytes = 0  # message payloads, text as UTF-8
        self.closed = 0
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.subprotocols: list[str | None] = []
        self.port = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def __enter__(self) -> WsServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the WebSocket test server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        context = None
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            if self.client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(self.client_ca)
        async with serve(
            self._handle,
            HOST,
            0,
            ssl=context,
            process_request=self._process_request,
            subprotocols=["chat.v1"],
            select_subprotocol=lambda conn, offered: offered[0] if offered else None,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def _process_request(self, connection: ServerConnection, request: Any) -> Response | None:
        with self._lock:
            self.paths.append(request.path)
            self.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        if self.mode == "reject":
            return Response(403, "Forbidden", Headers([("Content-Length", "0")]), b"")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            self.subprotocols.append(connection.subprotocol)
            peer = connection.transport.get_extra_info("peercert")
            if peer:
                self.client_names += [
                    v for rdn in peer["subject"] for k, v in rdn if k == "commonName"
                ]
        try:
            await self._serve(connection)
        finally:
            with self._lock:
                self.closed += 1

    async def _serve(self, connection: ServerConnection) -> None:
        if self.mode == "close":
            await connection.close(1011, "going away")
            return
        async for message in connection:
            with self._lock:
                self.received += 1
                self.received_bytes += len(_octets(message))
            if self.mode == "silent":
                continue
            replies: list[str | bytes] = [message]
            if isinstance(message, str) and message.startswith("chat:"):
                _, count, text = message.split(":", 2)
                replies = [*(["noise"] * (int(count) - 1)), text]
            for reply in replies:
                await connection.send(reply)
                with self._lock:
                    self.sent += 1
                    self.sent_bytes += len(_octets(reply))
