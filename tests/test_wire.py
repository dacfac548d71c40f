"""The wire level: which response heads take the fast Python path, which go to the C parser."""

from __future__ import annotations

import pytest

from yamlswarm.runtime.http.framing import simple_head


def test_simple_head_parses_the_common_case():
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi"
    status, headers, start, length, close = simple_head(head)
    assert (status, headers, length, close) == (
        200,
        [("Content-Length", "2"), ("X-A", "b")],
        2,
        False,
    )
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
