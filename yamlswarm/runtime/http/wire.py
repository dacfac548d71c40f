"""The wire level of the HTTP client: one connection's I/O, response heads, failure names.

`Connection` talks to the socket; `simple_head` and `Parser` read responses (the
first the common case in Python, the second everything else through
geventhttpclient's C parser); `error_name` is the one place where library
exceptions become the short error names of the error table. `yamlswarm.runtime.http.session`
builds sessions on top of this.
"""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import sys
import time
import zlib

import gevent
from gevent import socket as gsocket
from gevent import ssl as gssl
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser

RECV_SIZE = 65536
# Kernel receive timestamps (Linux): each read also says when its data arrived, so a response
# that waited in the socket while the event loop served other users is not counted as slower.
_SO_TIMESTAMPNS = (
    getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform.startswith("linux") else None
)
_ANCILLARY = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = struct.Struct("qq")


class Parser(HTTPResponseParser):
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


SimpleHead = tuple[int, list[tuple[str, str]], int, int, bool]


def simple_head(data: bytes) -> SimpleHead | None:
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


class Failure(Exception):
    """Internal: a transport failure, already named for the error table."""

    def __init__(self, name: str, retryable: bool = False) -> None:
        super().__init__(name)
        self.name = name
        self.retryable = retryable


def error_name(exc: BaseException) -> str:
    """The one place where library exceptions become error names."""
    if isinstance(exc, Failure):
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


class Connection:
    """One keep-alive connection.

    Plain TCP (the common, hot case) talks to the non-blocking socket under gevent's
    wrapper directly and waits for readability itself, with one reusable `gevent.Timeout`
    bounding each whole exchange: gevent's own `sendall`/`recv` would add a system call
    and a fresh timer per operation. TLS keeps gevent's socket with per-operation timeouts.
    """

    __slots__ = ("arrived", "raw", "sock", "stamped", "timeout", "timer", "used")

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
            return self.sock.recv(RECV_SIZE)
        sock = self.sock
        while True:
            sock._wait(sock._read_event)  # data is rarely there yet: wait first, then read
            try:
                if not self.stamped:
                    return raw.recv(RECV_SIZE)
                data, ancillary, _, _ = raw.recvmsg(RECV_SIZE, _ANCILLARY)
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


def tls_context(verify: bool) -> ssl.SSLContext:
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


def decode_body(body: bytes, encoding: str | None) -> bytes:
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
