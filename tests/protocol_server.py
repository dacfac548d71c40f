"""A raw-socket, scripted HTTP/1.1 server for conformance tests of the wire layer (threads, no gevent).

`ProtocolServer` answers by path with exact bytes — the cases a strict client must get right
(1xx, chunked with extensions and trailers, close-delimited bodies, bad Content-Length, an
early 413, `Connection: close`, trickled bodies, huge heads, encodings, a gzip bomb), over
plain TCP or TLS (`tls=ssl.SSLContext`). Every request is recorded from the server's side
(`requests`: method, target, headers, body, connection number), so a test checks what
arrived. `idle_timeout` closes connections idle that long (a server keep-alive timeout).

`ForwardProxy` is a loopback proxy: CONNECT tunnels and absolute-form forwarding; it
records what it was asked, and takes any `*.test` host name for 127.0.0.1 (so tests can
use several host names, e.g. for cookie domains). `make_ca` writes a CA, a server and a
client certificate with the `openssl` command. Everything listens on 127.0.0.1, port 0.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

HOST = "127.0.0.1"
PAYLOAD = b"hello encoded world " * 200


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    connection: int  # 1, 2, ... in accept order
    index: int  # 0 for the first request on its connection

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path if "://" in self.target else self.target.split("?")[0]


def _encoded(coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(PAYLOAD)
    if coding == "deflate":
        return zlib.compress(PAYLOAD)
    if coding == "deflate-raw":
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return raw.compress(PAYLOAD) + raw.flush()
    if coding == "br":
        import brotli

        return brotli.compress(PAYLOAD)
    if coding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(PAYLOAD)
    raise ValueError(coding)


_BOMB: list[bytes] = []


def gzip_bomb() -> bytes:
    """About 200 KB of gzip that inflates to 200 MB of zeros (built once)."""
    if not _BOMB:
        deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = bytes(1 << 20)
        _BOMB.append(b"".join(deflater.compress(block) for _ in range(200)) + deflater.flush())
    return _BOMB[0]


def _response(status: str, headers: list[str], body: bytes = b"") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body


def _ok(body: bytes = b"ok", *extra: str) -> bytes:
    return _response("200 OK", [f"Content-Length: {len(body)}", *extra], body)


_CONTENT_LENGTHS = {
    "superscript": b"Content-Length: \xb2",  # latin-1 '²': '²'.isdigit() is True
    "superscript-utf8": "Content-Length: ²".encode(),
    "agree": b"Content-Length: 2\r\nContent-Length: 2",
    "list": b"Content-Length: 2, 2",
    "conflict": b"Content-Length: 2\r\nContent-Length: 3",
    "negative": b"Content-Length: -2",
    "plus": b"Content-Length: +2",
    "space": b"Content-Length: 2 2",
}


class ProtocolServer:
    """See the module docstring. Routes (first path segment): /ok, /interim/N, /chunked,
    /close-delimited, /cl/<case>, /nobody/<status>, /close, /early-413, /stale-second,
    /trickle/<bytes>, /huge-header/<MB>, /many-headers/<n>, /encoded/<coding>, /gzip-bomb,
    /garbage, /interim-flood, /late-body/<status>."""

    def __init__(self, tls: ssl.SSLContext | None = None, idle_timeout: float | None = None):
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.requests: list[Seen] = []
        self.connections = 0
        self.tls_failures = 0
        self._late: dict[int, bytes] = {}  # connection -> a body to send before its next answer
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def count(self, path: str, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    def __enter__(self) -> ProtocolServer:
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

    # -- the server loop ---------------------------------------------------------

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
                number = self.connections
                self._clients.add(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock.settimeout(5)
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.tls_failures += 1
                    return
                with self._lock:
                    self._clients.add(sock)
            sock.settimeout(self.idle_timeout or 10)
            buffer = b""
            for index in range(10_000):
                seen, buffer = self._read_request(sock, buffer, number, index)
                if seen is None or not self._answer(sock, seen):
                    return
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _read_request(
        self, sock: socket.socket, buffer: bytes, number: int, index: int
    ) -> tuple[Seen | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)  # the idle timeout raises here
            if not chunk:
                return None, buffer
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = tuple(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])
        )
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        body_wanted = 0 if target.endswith("/early-413") else length
        while len(rest) < body_wanted:
            chunk = sock.recv(65536)
            if not chunk:
                return None, rest
            rest += chunk
        seen = Seen(method, target, headers, rest[:body_wanted], number, index)
        with self._lock:
            self.requests.append(seen)
        return seen, rest[body_wanted:]

    def _answer(self, sock: socket.socket, seen: Seen) -> bool:
        """Send the scripted reply; False to close the connection afterwards."""
        parts = seen.path.strip("/").split("/")
        route, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        handler = getattr(self, "_route_" + route.replace("-", "_"), None)
        with self._lock:
            late = self._late.pop(seen.connection, b"")
        if late:  # the body a /late-body response should not have had, sent only now
            sock.sendall(late)
        if handler is None:
            sock.sendall(_response("404 Not Found", ["Content-Length: 0"]))
            return True
        return handler(sock, seen, arg)

    # -- routes ------------------------------------------------------------------

    def _route_ok(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(_ok(f"ok {seen.connection}/{seen.index}".encode()))
        return True

    def _route_interim(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        interim = [b"HTTP/1.1 100 Continue\r\n\r\n"] + [
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        ] * (int(arg or 1) - 1)
        sock.sendall(b"".join(interim) + _ok(b"final"))
        return True

    def _route_interim_flood(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 1000 + _ok(b"final"))
        return True

    def _route_chunked(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(
            _response("200 OK", ["Transfer-Encoding: chunked", "Trailer: X-Checksum"])
            + b'5;name="ext"\r\nhello\r\n'
            + b"6;a=1;b\r\n world\r\n"
            + b"0;last\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
        )
        return True

    def _route_close_delimited(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        time.sleep(0.05)
        sock.sendall(b"the close")
        return False

    def _route_cl(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\n" + _CONTENT_LENGTHS[arg] + b"\r\n\r\nhi")
        return True

    def _route_nobody(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        # a Content-Length, but no body: none is allowed for HEAD, 204 and 304
        status = {"204": "204 No Content", "304": "304 Not Modified"}.get(arg, "200 OK")
        sock.sendall(_response(status, ["Content-Length: 10", "ETag: x"]))
        return True

    def _route_late_body(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        # a HEAD (or 204/304) answer whose announced body comes anyway, just before the next
        # response on the connection: after any check the client could make of the socket
        status = {"204": "204 No Content", "304": "304 Not Modified"}.get(arg, "200 OK")
        sock.sendall(_response(status, ["Content-Length: 10"]))
        with self._lock:
            self._late[seen.connection] = b"0123456789"
        return True

    def _route_close(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(_ok(b"bye", "Connection: close"))
        return False

    def _route_early_413(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(
            _response("413 Content Too Large", ["Content-Length: 3", "Connection: close"], b"big")
        )
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 2  # a lingering close: drain a little, then go
        try:
            while time.monotonic() < deadline and sock.recv(65536):
                time.sleep(0.01)
        except OSError:
            pass
        return False

    def _route_stale_second(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        if seen.index == 1:  # the second request on a connection: read it, then vanish
            return False
        fresh = _ok(b"fresh")
        sock.sendall(fresh[:-5] if seen.method == "HEAD" else fresh)
        return True

    def _route_trickle(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        size = int(arg or 20)
        sock.sendall(_response("200 OK", [f"Content-Length: {size}"]))
        for _ in range(size):
            time.sleep(0.5)
            sock.sendall(b"x")
        return True

    def _route_huge_header(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: ")
        block = b"a" * (1 << 20)
        for _ in range(int(arg or 300)):
            sock.sendall(block)  # fails once the client has given up
        sock.sendall(b"\r\nContent-Length: 0\r\n\r\n")
        return False

    def _route_many_headers(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        extra = [f"X-H{i}: {i}" for i in range(int(arg))]
        sock.sendall(_response("200 OK", ["Content-Length: 2", *extra], b"hi"))
        return True

    def _route_encoded(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        body = _encoded(arg)
        coding = "deflate" if arg == "deflate-raw" else arg
        sock.sendall(_ok(body, f"Content-Encoding: {coding}"))
        return True

    def _route_gzip_bomb(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(_ok(gzip_bomb(), "Content-Encoding: gzip"))
        return True

    def _route_garbage(self, sock: socket.socket, seen: Seen, arg: str) -> bool:
        sock.sendall(b"SSH-2.0-OpenSSH_9.0\r\n")
        return False


class ForwardProxy:
    """A loopback HTTP proxy: CONNECT host:port tunnels, and absolute-form requests relayed
    to their origin. `asked` records each request line (and its Proxy-Authorization)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> ForwardProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(10)
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                chunk = client.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head = buffer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            line, *fields = head.split("\r\n")
            auth = next(
                (
                    f.split(":", 1)[1].strip()
                    for f in fields
                    if f.lower().startswith("proxy-authorization:")
                ),
                None,
            )
            with self._lock:
                self.asked.append((line, auth))
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = _loopback_connection(host, int(port))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
            else:
                parts = urlsplit(target)
                upstream = _loopback_connection(parts.hostname or "", parts.port or 80)
            if buffer:
                upstream.sendall(buffer)
            _relay(client, upstream)
        except OSError:
            pass
        finally:
            client.close()


def _loopback_connection(host: str, port: int) -> socket.socket:
    if host.endswith(".test"):  # RFC 2606 names (shop.test, api.shop.test) are this machine
        host = HOST
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise OSError(f"this test proxy only goes to loopback, not {host!r}")
    return socket.create_connection((host.strip("[]"), port), timeout=10)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join(timeout=10)
    upstream.close()


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, require_client: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self.ca)
        return context


def make_ca(directory: Path) -> Certificates:
    """A self-signed CA and, signed by it, a certificate for 127.0.0.1 and one for a client."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=yamlswarm test CA",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=yamlswarm client")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        extra = ["-extfile", "san.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra)  # fmt: skip
    return Certificates(
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
        directory / "client.pem",
        directory / "client.key",
    )
