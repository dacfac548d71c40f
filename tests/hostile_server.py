"""A hostile HTTP server on loopback for the fault suite: one misbehaviour per mode.

Each connection gets its own thread; every request head read completely counts in
`.requests` (what "the server saw"), so a test can compare the client's totals with
it. Modes (`MODES`):

- ok: 200 with a small JSON body, keep-alive (the baseline)
- reset: read the request, send half a response, reset the connection (RST)
- slowloris: a status line, then headers one byte every 0.2 s, never ending
- trickle: a head with Content-Length 1000, then the body one byte every 0.3 s
- chunked_forever: a chunked body whose chunks never end (one every 5 ms)
- huge_headers: header lines as fast as the socket takes them, never ending
- many_headers: 20,000 small headers, then an empty body
- bad_status: a status line that is not one (`HTTP/1.1 abc`)
- http09: a body without any status line or headers, then close
- gzip_bomb: `Content-Encoding: gzip`, ~1 MB that inflates to 1 GiB of zeros
- redirect_loop: 302 to the same URL, forever
- info_flood: 5,000 `103 Early Hints` interim responses before a 200
- deep_json: 200 with JSON nested 100,000 deep
- tls_stall (TLS only): accept TCP, never answer the TLS handshake
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
import time
import zlib
from functools import lru_cache
from pathlib import Path

HOST = "127.0.0.1"
MODES = (
    "ok",
    "reset",
    "slowloris",
    "trickle",
    "chunked_forever",
    "huge_headers",
    "many_headers",
    "bad_status",
    "http09",
    "gzip_bomb",
    "redirect_loop",
    "info_flood",
    "deep_json",
    "tls_stall",
)
# the modes where the request reaches the server as HTTP, so the totals must equal its count
COUNTED = tuple(m for m in MODES if m != "tls_stall")


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~1 MB of gzip that inflates to 1 GiB of zeros (built once per machine: ~4 s)."""
    cached = Path(tempfile.gettempdir()) / "yamlswarm-test-gzip-bomb-1g.gz"
    if cached.exists():
        return cached.read_bytes()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = bytes(1 << 20)
    body = b"".join([*(packer.compress(block) for _ in range(1024)), packer.flush()])
    partial = cached.with_suffix(f".{os.getpid()}")
    partial.write_bytes(body)
    partial.replace(cached)  # atomic: parallel test processes never read half a file
    return body


class HostileServer:
    """`with HostileServer("trickle") as server:` … `server.url`, `server.requests`."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.requests = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(512)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.mode == "tls_stall" else "http"
        return f"{scheme}://{HOST}:{self.port}"

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            try:
                sock.close()
            except OSError:
                pass

    # -- serving ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._clients.add(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        buffer = b""
        try:
            while not self._stopping.is_set():
                if self.mode == "tls_stall":
                    self._idle(sock)
                    return
                head, buffer = self._read_head(sock, buffer)
                if head is None:
                    return
                buffer = self._skip_body(sock, head, buffer)
                with self._lock:
                    self.requests += 1
                if not getattr(self, f"_{self.mode}")(sock):
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _read_head(self, sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            if self._stopping.is_set():
                return None, b""
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return None, b""
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        return head, rest

    def _skip_body(self, sock: socket.socket, head: bytes, rest: bytes) -> bytes:
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(rest) < length and not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            rest += data
        return rest[length:]

    def _idle(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                if not sock.recv(65536):
                    return
            except TimeoutError:
                continue

    def _drip(self, sock: socket.socket, data: bytes, every: float) -> bool:
        for i in range(len(data)):
            if self._stopping.wait(every):
                return False
            sock.sendall(data[i : i + 1])
        return True

    # -- the modes (True: keep the connection for another request) ---------------------

    def _ok(self, sock: socket.socket) -> bool:
        body = b'{"ok": true}'
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    def _reset(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False

    def _slowloris(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        self._drip(sock, b"X-Slow: " + b"a" * 100_000, 0.2)
        return False

    def _trickle(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        self._drip(sock, b"x" * 1000, 0.3)
        return False

    def _chunked_forever(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
        while not self._stopping.wait(0.005):
            sock.sendall(chunk)
        return False

    def _huge_headers(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Huge: " + b"h" * 1000 + b"\r\n"
        while not self._stopping.is_set():
            sock.sendall(line * 64)
        return False

    def _many_headers(self, sock: socket.socket) -> bool:
        head = b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
        sock.sendall(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 0\r\n\r\n")
        return True

    def _bad_status(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 abc\r\nContent-Length: 0\r\n\r\n")
        return False

    def _http09(self, sock: socket.socket) -> bool:
        sock.sendall(b"<html>no status line, no headers</html>\n")
        return False

    def _gzip_bomb(self, sock: socket.socket) -> bool:
        body = gzip_bomb()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True

    def _redirect_loop(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")
        return True

    def _info_flood(self, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" * 5000)
        return self._ok(sock)

    def _deep_json(self, sock: socket.socket) -> bool:
        body = b"[" * 100_000 + b"]" * 100_000
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True


def wait_quiet(server: HostileServer, settle_s: float = 0.3) -> int:
    """The server's request count once it has stopped changing (threads still reading)."""
    last = -1
    while last != server.requests:
        last = server.requests
        time.sleep(settle_s)
    return last
