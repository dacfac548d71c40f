"""Reading HTTP/1.1 responses off a connection: heads, interim responses, message framing.

`simple_head` splits the common response head (HTTP/1.1, one Content-Length, the whole head
in the first read) on the hot path. `read_response` reads everything else, strictly and in
linear time: heads bounded by `HttpLimits` (size and count), 1xx interim responses skipped
(a bounded number), Content-Length (ASCII digits; duplicates must agree), chunked (chunk
extensions and trailers), close-delimited bodies, no body for HEAD, 1xx, 204 and 304.
Every protocol violation is a named `Failure`; a response the connection cannot be trusted
after (close-delimited, bytes left over, `Connection: close`) is marked not reusable.

A server may wrongly send a body with a HEAD, 204 or 304 response (Python's `http.server`
does with `do_HEAD = do_GET`). Bytes already there when the response is read make the
connection not reusable; for those still on their way, `Parsed.stray` is the length the
head announced (up to `MAX_STRAY`, so a HEAD of a large file never makes the client buffer
it), and `past_stray` skips exactly that many bytes before the next response on the
connection when they are followed by one, so the next request is not blamed.
"""

from __future__ import annotations

import re
from typing import Protocol

from yamlswarm.plan import HttpLimits
from yamlswarm.runtime.http.response import Headers
from yamlswarm.runtime.http.wire import Failure

MAX_INTERIM = 16  # 1xx responses before the final one; more is a named error
MAX_STRAY = 1 << 20  # the largest wrongly sent HEAD/204/304 body skipped (see the docstring)
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?:[ \t][^\r\n]*)?")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DEFAULT_LIMITS = HttpLimits()

SimpleHead = tuple[int, Headers, int, int, bool]


class Source(Protocol):
    def recv(self) -> bytes: ...


def simple_head(
    data: bytes,
    max_header_bytes: int = _DEFAULT_LIMITS.max_header_bytes,
    max_headers: int = _DEFAULT_LIMITS.max_headers,
) -> SimpleHead | None:
    """(status, headers, body start, Content-Length, close) of a plain HTTP/1.1 response head.

    None for anything unusual — a head split across reads or over a limit, 1xx/204/304,
    chunked, no or repeated Content-Length, folded or malformed header lines — which
    `read_response` handles (and names, when it is an error). The headers come indexed by
    lower-case name, built in the same pass (a lookup then costs no second pass).
    """
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > max_header_bytes or not data.startswith(b"HTTP/1.1 "):
        return None
    if not data[9:12].isdigit():
        return None
    status = int(data[9:12])
    if status < 200 or status == 204 or status == 304 or data[12:13] not in (b" ", b"\r"):
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    if len(lines) > max_headers + 1:
        return None
    del lines[0]
    headers: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t" or name[0] in " \t":
            return None
        value = value.strip(" \t")
        lower = name.lower()
        if lower in index:  # a repeated field: one value, joined as `Headers` joins them
            index[lower] = f"{index[lower]}, {value}"
        else:
            index[lower] = value
        headers.append((name, value))
    length = index.get("content-length")
    if length is None or not (length.isascii() and length.isdigit()):
        return None  # none, repeated (joined with ", ") or not digits
    if "transfer-encoding" in index:
        return None
    connection = index.get("connection")
    close = connection is not None and "close" in connection.lower()
    return status, Headers(headers, index), end + 4, int(length), close


class Parsed:
    """A response as read: its final head, the body bytes kept, and what the connection can do."""

    __slots__ = ("body", "headers", "reusable", "size", "status", "stray", "truncated")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        truncated: bool,
        reusable: bool,
        size: int = 0,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated
        self.reusable = reusable
        self.size = size  # bytes of the whole body as framed (kept or not)
        self.stray = 0  # a body's length announced but not allowed (HEAD, 204, 304)


class _Body:
    """Keeps the first `keep` bytes of a body; the rest is counted as truncated, not kept."""

    __slots__ = ("keep", "kept", "parts", "size", "truncated")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.kept = 0
        self.size = 0  # every byte of the body, kept or not (the stats rows' content size)
        self.parts: list[bytes] = []
        self.truncated = False

    def add(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        room = self.keep - self.kept
        if room <= 0:
            if len(data):
                self.truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.parts.append(bytes(data))
        self.kept += len(data)

    def value(self) -> bytes:
        return b"".join(self.parts) if len(self.parts) != 1 else self.parts[0]


class _Reader:
    """The bytes of a connection: read but not yet consumed (`buf[pos:]`), then more."""

    __slots__ = ("buf", "conn", "pos")

    def __init__(self, conn: Source, first: bytes) -> None:
        self.conn = conn
        self.buf = bytearray(first)
        self.pos = 0

    def _more(self) -> bool:
        chunk = self.conn.recv()
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _compact(self) -> None:
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0

    def head(self, limit: int) -> bytes:
        """One response head (without its blank line), at most `limit` bytes."""
        self._compact()
        buf, start = self.buf, 0
        while True:
            if buf[:5] != b"HTTP/"[: len(buf)]:
                raise Failure("MalformedResponse")
            end = buf.find(b"\r\n\r\n", start)
            if end >= 0:
                if end > limit:
                    raise Failure("HeadersTooLarge")
                self.pos = end + 4
                return bytes(buf[:end])
            if len(buf) > limit:
                raise Failure("HeadersTooLarge")  # without reading the rest of a huge head
            start = max(0, len(buf) - 3)  # linear: only new bytes are searched
            if not self._more():
                raise Failure("IncompleteResponse" if buf else "ConnectionClosed")

    def line(self, limit: int, what: str) -> bytes:
        """One CRLF-terminated line (without CRLF), at most `limit` bytes, else `what` fails."""
        self._compact()
        buf, start = self.buf, 0
        while True:
            end = buf.find(b"\r\n", start)
            if end >= 0:
                if end > limit:
                    raise Failure(what)
                self.pos = end + 2
                return bytes(buf[:end])
            if len(buf) > limit:
                raise Failure(what)
            start = max(0, len(buf) - 1)
            if not self._more():
                raise Failure("IncompleteResponse")

    def take(self, size: int, body: _Body) -> None:
        """The next `size` bytes into `body`; reads straight from the connection when it can."""
        available = len(self.buf) - self.pos
        if available:
            used = min(available, size)
            body.add(self.buf[self.pos : self.pos + used])
            self.pos += used
            size -= used
        while size > 0:
            chunk = self.conn.recv()
            if not chunk:
                raise Failure("IncompleteResponse")
            if len(chunk) <= size:
                body.add(chunk)
                size -= len(chunk)
            else:
                body.add(chunk[:size])
                self.buf, self.pos = bytearray(chunk[size:]), 0
                size = 0

    def rest(self, body: _Body) -> None:
        """Everything until the peer closes (a close-delimited body)."""
        body.add(self.buf[self.pos :])
        self.buf, self.pos = bytearray(), 0
        while chunk := self.conn.recv():
            body.add(chunk)

    def leftover(self) -> bool:
        return self.pos < len(self.buf)


class _Head:
    __slots__ = ("chunked", "headers", "keep_alive", "length", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.keep_alive = keep_alive
        self.length: int | None = None  # None: chunked or close-delimited
        self.chunked = False


def parse_head(head: bytes, limits: HttpLimits) -> _Head:
    """Status line and header lines of one response head, strictly."""
    lines = head.split(b"\r\n")
    if len(lines) > limits.max_headers + 1:
        raise Failure("TooManyHeaders")
    status_line = _STATUS.fullmatch(lines[0])
    if status_line is None:
        raise Failure("MalformedResponse")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obs-fold: a continuation, joined with one space
            if not headers:
                raise Failure("MalformedResponse")
            folded, value = headers[-1]
            more = line.strip(b" \t").decode("latin-1")
            headers[-1] = (folded, f"{value} {more}".strip())
            continue
        key, sep, raw = line.partition(b":")
        if not sep or _NAME.fullmatch(key) is None:
            raise Failure("MalformedResponse")
        headers.append((key.decode("latin-1"), raw.strip(b" \t").decode("latin-1")))
    tokens = _tokens(headers, "connection")
    http10 = status_line.group(1) == b"0"
    keep_alive = "close" not in tokens and (not http10 or "keep-alive" in tokens)
    return _Head(int(status_line.group(2)), headers, keep_alive)


def _tokens(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [
        token.strip().lower()
        for key, value in headers
        if key.lower() == name
        for token in value.split(",")
        if token.strip()
    ]


def _frame(head: _Head, method: str) -> bool:
    """Sets how the body is delimited; False when the response has no body at all."""
    status = head.status
    if method == "HEAD" or status < 200 or status in (204, 304):
        return False
    if method == "CONNECT" and status < 300:
        return False  # a tunnel follows, not a body
    codings = _tokens(head.headers, "transfer-encoding")
    lengths = [v for k, v in head.headers if k.lower() == "content-length"]
    if codings:
        head.chunked = codings[-1] == "chunked"
        if lengths or not head.chunked:  # RFC 9112 6.3: framing in doubt, close afterwards
            head.keep_alive = False
        return True
    if lengths:
        values = {v.strip(" \t") for value in lengths for v in value.split(",")}
        if not all(v.isascii() and v.isdigit() for v in values):
            raise Failure("InvalidContentLength")
        if len({int(v) for v in values}) != 1:
            raise Failure("ConflictingContentLength")
        head.length = int(values.pop())
        return True
    head.keep_alive = False  # delimited by the connection's close
    return True


def read_response(conn: Source, first: bytes, method: str, keep: int, limits: HttpLimits) -> Parsed:
    """The final response to one request, from its first bytes on `conn`."""
    reader = _Reader(conn, first)
    for _ in range(MAX_INTERIM + 1):
        head = parse_head(reader.head(limits.max_header_bytes), limits)
        if not 100 <= head.status < 200 or head.status == 101:
            break  # 101: not asked for, so taken as final (and the connection dropped)
    else:
        raise Failure("TooManyInterimResponses")
    body = _Body(keep)
    if head.status == 101:
        head.keep_alive = False
    elif _frame(head, method):
        if head.length is not None:
            reader.take(head.length, body)
        elif head.chunked:
            _read_chunked(reader, body, limits)
        else:
            reader.rest(body)
    reusable = head.keep_alive and not reader.leftover()
    parsed = Parsed(head.status, head.headers, body.value(), body.truncated, reusable, body.size)
    if reusable and head.status >= 200 and method != "CONNECT":
        stray = _announced(head.headers)
        parsed.stray = stray if stray <= MAX_STRAY else 0
    return parsed


def _announced(headers: list[tuple[str, str]]) -> int:
    """The Content-Length of a response that may not have a body (0: none, or not one)."""
    values = [v.strip(" \t") for k, v in headers if k.lower() == "content-length"]
    if len(values) != 1 or not (values[0].isascii() and values[0].isdigit()):
        return 0
    return int(values[0])


def past_stray(conn: Source, first: bytes, stray: int) -> bytes:
    """The first bytes of a response on a connection whose previous response announced a
    body it may not have (`Parsed.stray`): past that body if the server sent it anyway."""
    if b"HTTP/".startswith(first[:5]):
        return first  # a response (or the start of one): no stray body
    while len(first) < stray + 5:
        more = conn.recv()
        if not more:
            return first
        first += more
    return first[stray:] if first[stray : stray + 5] == b"HTTP/" else first


def _read_chunked(reader: _Reader, body: _Body, limits: HttpLimits) -> None:
    while True:
        line = reader.line(_MAX_CHUNK_LINE, "MalformedChunk")
        size = line.split(b";", 1)[0].strip(b" \t")  # chunk extensions are ignored
        if _HEX.fullmatch(size) is None:
            raise Failure("MalformedChunk")
        length = int(size, 16)
        if length == 0:
            break
        reader.take(length, body)
        if reader.line(0, "MalformedChunk"):
            raise Failure("MalformedChunk")
    count = size_seen = 0
    while trailer := reader.line(limits.max_header_bytes, "HeadersTooLarge"):
        count += 1
        size_seen += len(trailer) + 2
        if count > limits.max_headers:
            raise Failure("TooManyHeaders")
        if size_seen > limits.max_header_bytes:
            raise Failure("HeadersTooLarge")
