"""The wire level: which response heads take the fast Python path, which go to the C parser."""

from __future__ import annotations

import pytest

from yamlswarm.runtime.http.framing import simple_head


def test_simple_head_parses_the_common_case():
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi"
    status, headers, start, length, close = simple_head(head)
    assert (status, headers.items(), length, close) == (
        200,
        [("Content-Length", "2"), ("X-A", "b")],
        2,
        False,
    )
    assert headers.get("content-length") == "2" and headers.get("X-a") == "b"
    assert head[start:] == b"hi"
    closing = simple_head(b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert closing[0] == 500 and closing[3] == 0 and closing[4] is True


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",  # head not complete yet
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\n\r\n",  # no length: body until close
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\nhi",
        b"HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nhi",
    ],
)
def test_simple_head_leaves_everything_unusual_to_the_c_parser(head):
    assert simple_head(head) is None


def test_simple_head_is_strict_about_content_length_and_limits():
    assert simple_head("HTTP/1.1 200 OK\r\nContent-Length: ²\r\n\r\nhi".encode()) is None
    many = b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 120 + b"Content-Length: 0\r\n\r\n"
    assert simple_head(many) is None  # over 100 headers: the general path names the error
    assert simple_head(many, max_headers=200) is not None
    assert simple_head(many, max_header_bytes=100) is None


def test_the_capability_check_falls_back_to_the_public_api():
    import subprocess
    import sys

    from tests.cli_helpers import cli_env

    code = "from yamlswarm.runtime.http import wire; print(wire.FAST_IO)"
    forced = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env({"YAMLSWARM_PUBLIC_IO": "1"}),
        check=True,
    )
    assert forced.stdout.strip() == "False"


def test_a_gevent_without_the_internals_is_detected(monkeypatch):
    import types

    from yamlswarm.runtime.http import wire

    class Bare:  # a socket with only the public API
        def __init__(self, *args):
            pass

        def close(self):
            pass

    monkeypatch.setattr(wire, "gsocket", types.SimpleNamespace(socket=Bare))
    assert wire._fast_io_available() is False


_HEADS = [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b'Connection: keep-alive\r\nETag: "a-2"\r\n\r\nhi',
    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, Close\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x\r\nConnection: close\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces: \t v \t\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi",
]


@pytest.mark.parametrize("head", _HEADS)
def test_simple_head_agrees_with_the_strict_reader(head):
    """Whatever the fast path takes, the strict reader reads the same way: status, headers
    (items and lookups), body start and length, and whether the connection stays open."""
    from yamlswarm.plan import HttpLimits
    from yamlswarm.runtime.http.framing import _frame, parse_head
    from yamlswarm.runtime.http.response import Headers

    simple = simple_head(head)
    if simple is None:
        return  # the strict reader's to read (and to name, if it is an error)
    status, headers, start, length, close = simple
    strict = parse_head(head[: head.find(b"\r\n\r\n")], HttpLimits())
    assert _frame(strict, "GET") is True
    assert (status, headers.items(), length, not close) == (
        strict.status,
        strict.headers,
        strict.length,
        strict.keep_alive,
    )
    assert start == head.find(b"\r\n\r\n") + 4
    slow = Headers(strict.headers)
    for name in {k.lower() for k, _ in strict.headers} | {"nope"}:
        assert headers.get(name) == slow.get(name) and headers.get_all(name) == slow.get_all(name)
