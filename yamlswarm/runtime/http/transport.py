"""The transport seam: what a virtual user sends requests through (a real `Session`, or a fake).

A `Transport` sends one `Request` and returns one `Response`; a transport or
protocol failure (refused, timeout, a bad URL, too many redirects) is a short
name in `Response.error`, never an exception (STYLE 6). The real transport is
`runtime.http.session.Session`; tests use `tests.fakes.FakeTransport`.

A request step whose URL, headers and body are constant builds its `Request`
once, at build time, with `Request.prepared`: it then carries its request
already encoded (`origin`, `head`, `wire`), which the real transport sends as
it is and a fake may ignore (it reads `method`, `url`, `headers`, `body` like
any other).
Nothing here imports gevent or touches a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from yamlswarm.runtime.http.message import (
    DEFAULT_BODY_LIMIT,
    Origin,
    build_head,
    frame,
    head_flags,
    split_url,
)
from yamlswarm.runtime.http.response import Response

__all__ = ["Request", "Transport", "TransportFactory"]


class Request:
    """One request to send, as plain data.

    `url` is absolute or a path relative to the transport's base origin;
    `keep` is how many body bytes to keep (the rest is read and dropped);
    `verify_tls` None means the transport's default. A prepared request
    (`Request.prepared`) also has `origin`, `head` (the request line and
    header lines, CRLF-terminated, without Host, Cookie and Content-Length)
    and `wire`: the whole request as sent when no cookie is due.
    """

    __slots__ = (
        "body",
        "follow_redirects",
        "headers",
        "keep",
        "method",
        "timeout",
        "url",
        "verify_tls",
    )

    # set only on a prepared request (`_Prepared`, a subclass with slots for them)
    origin: Origin | None = None
    target: str = ""  # the request target sent (a prepared request's, for the cookie jar)
    head: bytes | None = None
    wire: bytes | None = None
    own: int = 0  # which of Host/Cookie/Content-Length the user set (message.OWN_*)

    def __init__(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float = 30.0,
        follow_redirects: bool = True,
        keep: int = DEFAULT_BODY_LIMIT,
        verify_tls: bool | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.follow_redirects = follow_redirects
        self.keep = keep
        self.verify_tls = verify_tls

    @classmethod
    def prepared(
        cls,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        base: Origin | None,
        *,
        timeout: float,
        keep: int,
        verify_tls: bool,
        follow_redirects: bool = False,
    ) -> Request:
        """A request sent many times unchanged, its head encoded once. Raises ValueError
        (`message.RequestError` for a head that cannot be sent) for a URL that needs a host."""
        origin, target = split_url(url, base)
        request = _Prepared(
            method,
            f"{origin!r}{target}",
            tuple(headers),
            body,
            timeout=timeout,
            follow_redirects=follow_redirects,
            keep=keep,
            verify_tls=verify_tls,
        )
        request.origin = origin
        request.target = target
        request.head = head = build_head(method, target, headers)
        request.own = own = head_flags(headers)
        request.wire = frame(head, origin, body, method, None, own)  # all of it, no cookie due
        return request

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class _Prepared(Request):
    """A request from `Request.prepared`: the same, with its bytes encoded."""

    __slots__ = ("head", "origin", "own", "target", "wire")


class Transport(Protocol):
    """One virtual user's connection to the world: its connections, its cookies."""

    def send(self, request: Request) -> Response:
        """Send one request and read its response; failures are `Response.error`, not raised."""
        ...

    def close(self) -> None:
        """Close every connection (the user stopped); sending again reconnects."""
        ...


TransportFactory = Callable[[], Transport]  # a new transport for each virtual user
