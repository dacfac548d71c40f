"""Real loopback HTTP servers for integration tests, run in background threads (no gevent needed).

- `CountingServer`: an HTTP/1.1 keep-alive server that counts requests per (method, path), records the
  last requests, and answers a few utility routes (see `_Handler`).
- `FaultServer(mode)`: misbehaving servers: "reset", "malformed", "close", "hang", "freeze".
- `free_port()`, `closed_port()`: a port free to bind, and a port where connections are refused.
- `wait_until(ready, what)`, `stop_process(process)`: for the third-party servers tests start
  (Prometheus, InfluxDB, Mosquitto, Redis) as subprocesses.

Every server listens on 127.0.0.1 port 0, is a context manager and exposes `.url` and `.port`.
"""

from __future__ import annotations

import collections
import gzip
import itertools
import json
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
_BLOCK = b"0123456789abcdef" * 4096  # 64 KiB, the unit of /bytes/{n}
_RESERVED: list[socket.socket] = []  # bound, never listening: keeps closed_port()s refused


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(ready, what: str, timeout: float = 30.0, process=None) -> None:
    """Poll `ready()` until it is true (an OSError counts as not yet); fail if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout:g}s")


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    socket.create_connection((HOST, port), timeout=0.5).close()
    return True


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server process, killing it if it does not exit within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def closed_port() -> int:
    """A port with nothing listening: connecting to it is refused (held until the process exits)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    _RESERVED.append(sock)
    return sock.getsockname()[1]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


class _ServerBase:
    """Start/stop in a thread and the context-manager protocol shared by the test servers."""

    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# --------------------------------------------------------------------- CountingServer


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    owner: CountingServer


class _Handler(BaseHTTPRequestHandler):
    """Routes: /echo, /status/{code}, /set-cookie?name=&value=, /cookies, /redirect?to=[&status=],
    /chunked, /gzip, /bytes/{n}, /slow/{ms}; any other path answers 200 {"method", "path"}."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def do_request(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        body = self._read_body()
        owner = self.server.owner
        owner._record(
            RecordedRequest(self.command, parts.path, query, list(self.headers.items()), body)
        )
        started = time.perf_counter()
        owner._pattern_sleep()
        owner.handling_times.append(time.perf_counter() - started)
        self._route(parts.path, query, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _route(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        head, _, rest = path.lstrip("/").partition("/")
        if head == "echo":
            self._send_json(200, self._echo(path, query, body))
        elif head == "status" and rest.isdigit():
            self._send_status(int(rest))
        elif head == "set-cookie":
            name, value = _first(query, "name", "session"), _first(query, "value", "1")
            self._send(200, b'{"ok": true}', [("Set-Cookie", f"{name}={value}; Path=/")])
        elif head == "cookies":
            raw = self.headers.get("Cookie", "")
            cookies = dict(p.strip().split("=", 1) for p in raw.split(";") if "=" in p)
            self._send_json(200, {"cookies": cookies, "header": raw})
        elif head == "redirect":
            code = int(_first(query, "status", "302"))
            self._send(code, b"", [("Location", _first(query, "to", "/"))])
        elif head == "chunked":
            self._send_chunked([b'{"chunked": ', b"true, ", b'"parts": 3}'])
        elif head == "gzip":
            payload = gzip.compress(json.dumps({"gzipped": True}).encode())
            self._send(200, payload, [("Content-Encoding", "gzip")])
        elif head == "bytes" and rest.isdigit():
            self._send_bytes(int(rest))
        elif head == "slow" and rest.isdigit():
            time.sleep(int(rest) / 1000)
            self._send_json(200, {"slept_ms": int(rest)})
        else:
            self._send_json(200, {"method": self.command, "path": path})

    def _echo(self, path: str, query: dict[str, list[str]], body: bytes) -> dict[str, Any]:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return {
            "method": self.command,
            "path": path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
            "headers": headers,
            "json": parsed,
            "body": body.decode("utf-8", "replace"),
        }

    def _send_status(self, code: int) -> None:
        if code in (204, 304) or code < 200:
            self._send(code, b"")
        else:
            self._send_json(code, {"status": code})

    def _send_json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj).encode())

    def _send(self, code: int, payload: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(code)
        if payload:
            self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _send_chunked(self, parts: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def _send_bytes(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(_BLOCK)
        remaining = size
        while remaining > 0:
            step = min(remaining, len(_BLOCK))
            self.wfile.write(view[:step])
            remaining -= step


def _first(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[0] if values else default


class CountingServer(_ServerBase):
    """HTTP/1.1 keep-alive server counting requests per (method, path) and recording the last ones.

    `latency_pattern`: seconds to sleep before answering, used in a cycle over all requests in
    arrival order (e.g. [0.001, 0.002, 0.003]): deterministic latencies for percentile tests.
    Counters: `.total`, `.count(path, method=None)`, `.counts` (a Counter of (method, path)),
    `.connections` (accepted TCP connections: checks keep-alive), `.requests` (the last `keep`).
    """

    def __init__(self, latency_pattern: Iterable[float] | None = None, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._pattern = list(latency_pattern or [])
        self._pattern_index = itertools.count()
        self._sockets: set[socket.socket] = set()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=keep)
        self.total = 0
        self.connections = 0
        # how long each request was held before its response was written (the latency pattern's
        # sleeps as they really took): a lower bound of what the client can measure
        self.handling_times: list[float] = []
        self._server = _HTTPServer((HOST, 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"CountingServer:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def count(self, path: str, method: str | None = None) -> int:
        with self._lock:
            if method is not None:
                return self.counts[(method.upper(), path)]
            return sum(n for (_, p), n in self.counts.items() if p == path)

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.requests.clear()
            self.total = 0
            self.connections = 0
            self._pattern_index = itertools.count()

    def drop_connections(self) -> None:
        """Close every open client connection (a keep-alive peer then finds its connection stale)."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)
        deadline = time.monotonic() + 2
        while self._sockets and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.counts[(request.method, request.path)] += 1
            self.total += 1
            self.requests.append(request)

    def _pattern_sleep(self) -> None:
        if self._pattern:
            with self._lock:
                index = next(self._pattern_index)
            time.sleep(self._pattern[index % len(self._pattern)])

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --------------------------------------------------------------------- FaultServer

_OK_BODY = b'{"ok": true}'
_OK_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_OK_BODY), _OK_BODY)
)
_HALF_RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"partial": '
)
_GARBAGE = b"THIS IS NOT HTTP AT ALL\r\n\x00\xff garbage\r\n\r\n"


class FaultServer(_ServerBase):
    """A server that misbehaves in one way, chosen by `mode`:

    - "reset": read the request, send half a response, then reset the connection (RST).
    - "malformed": read the request, answer a garbage status line, close.
    - "close": read the request, close without answering.
    - "hang": read the request and never answer (until `stop()`): for read timeouts.
    - "freeze": answer 200 {"ok": true} with keep-alive; `freeze(seconds)` stalls every
      response (pending and new) until that many seconds from now.
    Counters: `.connections` (accepted), `.requests` (requests read).
    """

    MODES = ("reset", "malformed", "close", "hang", "freeze")

    def __init__(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown FaultServer mode {mode!r}; one of {', '.join(self.MODES)}")
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._frozen_until = 0.0
        self._clients: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(1024)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"FaultServer:{mode}", daemon=True
        )
        self._thread.start()

    def freeze(self, seconds: float) -> None:
        """Stall every response for `seconds` from now ("freeze" mode)."""
        self._frozen_until = time.monotonic() + seconds

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            _shutdown(sock)
            sock.close()

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
        sock.settimeout(0.1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while not self._stopping.is_set():
                request, buffer = self._read_request(sock, buffer)
                if request is None:
                    return
                with self._lock:
                    self.requests += 1
                if not self._answer(sock):
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(sock)
            if not self._stopping.is_set():
                _close_quietly(sock)

    def _read_request(self, sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        """Read one request head (and its Content-Length body); None when the peer is gone."""
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv(sock)
            if not chunk:
                return None, buffer
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = _content_length(head)
        while len(rest) < length:
            chunk = self._recv(sock)
            if not chunk:
                return None, rest
            rest += chunk
        return head, rest[length:]

    def _recv(self, sock: socket.socket) -> bytes:
        while not self._stopping.is_set():
            try:
                return sock.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _answer(self, sock: socket.socket) -> bool:
        """Misbehave once; True to keep the connection for another request."""
        if self.mode == "reset":
            sock.sendall(_HALF_RESPONSE)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif self.mode == "malformed":
            sock.sendall(_GARBAGE)
        elif self.mode == "hang":
            self._stopping.wait()
        elif self.mode == "freeze":
            while time.monotonic() < self._frozen_until and not self._stopping.is_set():
                time.sleep(min(0.01, max(0.0, self._frozen_until - time.monotonic())))
            sock.sendall(_OK_RESPONSE)
            return True
        return False


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
