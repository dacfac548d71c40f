"""The response a check, an extraction or a hook sees: plain data, already read."""

from __future__ import annotations

import json
from typing import Any, overload

_UNSET = object()


class Headers:
    """Case-insensitive, multi-valued response headers."""

    __slots__ = ("_index", "_items")

    def __init__(
        self, items: list[tuple[str, str]] | None = None, index: dict[str, str] | None = None
    ) -> None:
        """`index`: lower-case name -> value (repeated fields joined with ", "), when the
        reader of the head built it already."""
        self._items = items or []
        self._index = index

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._index is None:
            index: dict[str, str] = {}
            for key, value in self._items:
                lower = key.lower()
                index[lower] = f"{index[lower]}, {value}" if lower in index else value
            self._index = index
        return self._index.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        lower = name.lower()
        return [v for k, v in self._items if k.lower() == lower]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value


_NO_HOPS: list[float] = []  # shared, never mutated: a new list replaces it
_NO_HISTORY: list[Response] = []


class Response:
    """One HTTP exchange as the runtime recorded it.

    `status` is 0 when no response arrived (then `error` names why: e.g.
    "ConnectionRefused", "Timeout"). `body` holds the bytes kept (possibly
    only a prefix of a huge body, see `truncated`). `elapsed` is the latency
    in seconds as reported (from the scheduled start in the open model).
    A hook's `after_response` may call `fail(reason)`. After redirects, `url` is the final
    URL and `history` holds the redirect responses before it.
    """

    __slots__ = (
        "_json",
        "body",
        "cookies",
        "elapsed",
        "error",
        "failure",
        "headers",
        "history",
        "method",
        "name",
        "received_at",
        "redirects",
        "sent_headers",
        "size",
        "status",
        "truncated",
        "url",
    )

    # the stats row: set only where hooks see the response (after_response, user.request),
    # so that building a response costs nothing more on the hot path
    name: str

    def __init__(
        self,
        method: str,
        url: str,
        status: int = 0,
        headers: Headers | None = None,
        body: bytes = b"",
        elapsed: float = 0.0,
        error: str | None = None,
        truncated: bool = False,
        cookies: dict[str, str] | None = None,
        size: int | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.elapsed = elapsed
        self.error = error
        self.truncated = truncated
        self.cookies = cookies if cookies is not None else {}
        self.failure: str | None = None
        # bytes of the body as framed on the wire (Content-Length, or the chunks' sum),
        # before any Content-Encoding is undone, kept or not: what the stats rows add up
        self.size = len(body) if size is None else size
        self.name = ""  # the stats row the request is recorded on (set before hooks see it)
        # when the last bytes reached the socket, on the monotonic clock requests are timed on
        # (perf_counter), if the kernel told us, plain and TLS alike; latency ends here rather
        # than when this user's greenlet next got to run (docs/latency.md)
        self.received_at: float | None = None
        self.sent_headers: list[tuple[str, str]] | None = None  # kept only when tracing
        # seconds of each redirect hop followed after the first exchange (empty: none)
        self.redirects: list[float] = _NO_HOPS
        # the redirect responses that led to this one, in order (as `requests` keeps them)
        self.history: list[Response] = _NO_HISTORY
        self._json: Any = _UNSET

    @property
    def ok(self) -> bool:
        return self.error is None and self.failure is None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (cached); raises ValueError when it is not JSON."""
        if self._json is _UNSET:
            # decoding first is faster than letting json sniff the encoding of bytes
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def fail(self, reason: str) -> None:
        """Mark the request failed (for `after_response` hooks)."""
        self.failure = reason

    def __repr__(self) -> str:
        return f"<Response {self.method} {self.url} {self.status or self.error}>"
