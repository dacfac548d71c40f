"""The wire level of the HTTP client: one connection's bytes, and the names of its failures.

`Connection` moves bytes over one TCP connection, plain or TLS, and is the only place that
touches a socket. TLS runs through `ssl.MemoryBIO` over the same raw socket as plain TCP, so
both read the same way: the same waits, the same kernel receive timestamps, one deadline
per exchange (`docs/latency.md`). `error_name` is the one place where library exceptions
become the short error names of the error table. `framing` reads responses from a
connection; `session` builds sessions on top.

gevent internals on the hot path (`socket._sock`, `._wait`, `._read_event`) save a system
call and a timer per read; `FAST_IO` says whether this gevent has them (an import-time
capability check, or `YAMLSWARM_PUBLIC_IO=1`). Without them the public API is used.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import struct
import sys
import time

import gevent
from gevent import socket as gsocket

RECV_SIZE = 65536
# Kernel receive timestamps (Linux): each read also says when its data arrived, so a response
# that waited in the socket while the event loop served other users is not counted as slower.
_SO_TIMESTAMPNS = (
    getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform.startswith("linux") else None
)
_ANCILLARY = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = struct.Struct("qq")
_PRIVATE = ("_sock", "_wait", "_read_event", "_write_event")


def _fast_io_available() -> bool:
    """Whether gevent's sockets still have the internals the fast path reads."""
    if os.environ.get("YAMLSWARM_PUBLIC_IO"):
        return False
    try:
        probe = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        return all(hasattr(probe, name) for name in _PRIVATE) and all(
            hasattr(probe._sock, name) for name in ("recv", "recvmsg", "send")
        )
    finally:
        probe.close()


FAST_IO = _fast_io_available()
_NO_BIO = ssl.MemoryBIO()  # a placeholder for plain connections; never written


class Failure(Exception):
    """Internal: a transport or protocol failure, already named for the error table.

    `retryable`: nothing of a response arrived on a reused connection, so an idempotent
    request may be sent again on a fresh one.
    """

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
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return f"OSError: {name}"
    return type(exc).__name__


class Connection:
    """One keep-alive connection, plain or TLS, over gevent's non-blocking socket.

    No socket timeouts: the session's one `gevent.Timeout` per exchange (`timer`, reused
    while the timeout stays the same) bounds connect, send and the whole response.
    `dirty` marks a connection that cannot be reused (the server answered before the
    request was all sent).
    """

    __slots__ = (
        "absolute",
        "arrived",
        "dirty",
        "last_used",
        "raw",
        "sock",
        "stamped",
        "stray",
        "timer",
        "tls",
        "tls_in",
        "tls_out",
    )

    def __init__(self, sock: gsocket.socket, timer: gevent.Timeout) -> None:
        self.sock = sock
        self.timer = timer
        self.dirty = False
        self.stray = 0  # see framing.past_stray
        self.last_used = 0.0  # perf_counter time its last exchange started
        # through a plain http proxy: (b"http://host:port", Proxy-Authorization line)
        self.absolute: tuple[bytes, bytes] | None = None
        self.arrived = 0.0  # kernel time (CLOCK_REALTIME) the last read's data arrived; 0: unknown
        self.tls: ssl.SSLObject | None = None
        self.tls_in = self.tls_out = _NO_BIO  # start_tls gives each connection its own
        sock.settimeout(None)
        raw = sock._sock if FAST_IO else None  # the OS socket gevent keeps non-blocking
        self.raw: socket.socket | None = raw
        self.stamped = False
        if _SO_TIMESTAMPNS is not None:
            try:
                (raw or sock).setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self.stamped = True
            except OSError:
                pass

    # -- raw bytes -------------------------------------------------------------

    def _read_raw(self) -> bytes:
        raw = self.raw
        if raw is None:
            if not self.stamped:
                return self.sock.recv(RECV_SIZE)
            data, ancillary, _, _ = self.sock.recvmsg(RECV_SIZE, _ANCILLARY)
        else:
            sock = self.sock
            while True:
                sock._wait(sock._read_event)  # data is rarely there yet: wait first, then read
                try:
                    if not self.stamped:
                        return raw.recv(RECV_SIZE)
                    data, ancillary, _, _ = raw.recvmsg(RECV_SIZE, _ANCILLARY)
                    break
                except BlockingIOError:
                    continue
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                self.arrived = seconds + nanoseconds * 1e-9
        return data

    def _write_raw(self, data: bytes) -> None:
        raw = self.raw
        try:
            if raw is None:
                self.sock.sendall(data)
                return
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                self._write_rest(raw, memoryview(data)[sent:])
        except (BrokenPipeError, ConnectionResetError):
            if not self.peek():  # nothing to read either: the connection is gone
                raise
            self.dirty = True  # the server answered early (e.g. 413) and stopped reading

    def _write_rest(self, raw: socket.socket, view: memoryview) -> None:
        """The send buffer is full: wait for room, stopping if the server answers meanwhile."""
        fileno = raw.fileno()
        while view:
            gsocket.wait_readwrite(fileno)
            if self.peek():
                self.dirty = True
                return
            try:
                view = view[raw.send(view) :]
            except BlockingIOError:
                continue

    def peek(self) -> bytes | None:
        """Without waiting: None while nothing is waiting to be read; b"" at EOF (or a reset);
        else the first byte waiting (unread)."""
        try:
            if self.raw is not None:
                return self.raw.recv(1, socket.MSG_PEEK)
            self.sock.settimeout(0.0)
            try:
                return self.sock.recv(1, socket.MSG_PEEK)
            finally:
                self.sock.settimeout(None)
        except (TimeoutError, BlockingIOError):
            return None
        except OSError:
            return b""

    def stale(self) -> bool:
        """Before reusing an idle connection: the server closed it, or sent something unasked."""
        if self.dirty or (self.tls is not None and self.tls.pending()):
            return True
        return self.peek() is not None

    # -- TLS -------------------------------------------------------------------

    def start_tls(self, context: ssl.SSLContext, hostname: str) -> None:
        """The TLS handshake, through memory BIOs over the raw socket."""
        self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=hostname)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_tls()
                if not self._feed_tls():
                    raise Failure("TLSError: connection closed during the handshake") from None
        self._flush_tls()
        self.tls = tls

    def _flush_tls(self) -> None:
        if self.tls_out.pending:
            self._write_raw(self.tls_out.read())

    def _feed_tls(self) -> bool:
        chunk = self._read_raw()
        if not chunk:
            self.tls_in.write_eof()
            return False
        self.tls_in.write(chunk)
        return True

    # -- what framing and session use --------------------------------------------

    def send(self, data: bytes) -> None:
        tls = self.tls
        if tls is None:
            self._write_raw(data)
            return
        tls.write(data)
        self._flush_tls()

    def recv(self) -> bytes:
        """The next bytes of the response; b"" at the end of the stream."""
        tls = self.tls
        if tls is None:
            return self._read_raw()
        while True:
            try:
                data = tls.read(RECV_SIZE)
            except ssl.SSLWantReadError:
                self._flush_tls()  # e.g. a key update to answer
                if not self._feed_tls():
                    return b""  # an EOF without close_notify: the end, as for plain TCP
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            self._flush_tls()
            return data

    def received_at(self, started: float) -> float | None:
        """When the last read's data arrived, on the perf_counter clock (None: unknown).

        The kernel stamps data on CLOCK_REALTIME; only the data's age (now - stamp, two
        readings of that clock a moment apart) is used, and it is clamped to the exchange,
        so the result lies between `started` and now on the monotonic clock."""
        if not self.arrived:
            return None
        now = time.perf_counter()
        waited = time.time() - self.arrived
        if waited <= 0.0:
            return now
        return max(now - waited, started)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
