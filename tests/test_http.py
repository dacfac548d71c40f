"""The HTTP transport against real loopback servers: keep-alive, bodies, cookies, faults as data."""

from __future__ import annotations

import pytest

from tests.servers import CountingServer, FaultServer, closed_port
from yamlswarm.runtime.http.message import build_head, parse_origin, split_url
from yamlswarm.runtime.http.session import Session


def _session(server) -> Session:
    return Session(parse_origin(server.url))


def test_keep_alive_reuses_one_connection():
    with CountingServer() as server:
        session = _session(server)
        for _ in range(20):
            assert session.request("GET", "/echo").status == 200
        assert server.count("/echo") == 20
        assert server.connections == 1


def test_json_body_headers_and_query_arrive():
    with CountingServer() as server:
        response = _session(server).request(
            "POST",
            "/echo?a=1",
            headers=[("Content-Type", "application/json"), ("X-Test", "yes")],
            body=b'{"n": 5}',
        )
        echoed = response.json()
        assert echoed["json"] == {"n": 5}
        assert echoed["query"] == {"a": "1"}
        assert echoed["headers"]["X-Test"] == "yes"
        assert echoed["headers"]["Host"] == f"127.0.0.1:{server.port}"


def test_chunked_and_gzip_bodies_are_decoded():
    with CountingServer() as server:
        session = _session(server)
        assert session.request("GET", "/chunked").json() == {"chunked": True, "parts": 3}
        assert session.request("GET", "/gzip").json() == {"gzipped": True}


def test_cookies_are_sent_back_like_a_browser():
    with CountingServer() as server:
        session = _session(server)
        first = session.request("GET", "/set-cookie?name=sid&value=abc")
        assert first.cookies == {"sid": "abc"}
        assert session.request("GET", "/cookies").json()["cookies"] == {"sid": "abc"}
        other = _session(server)  # another user has its own jar
        assert other.request("GET", "/cookies").json()["cookies"] == {}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed(status):
    with CountingServer() as server:
        response = _session(server).request("GET", f"/redirect?to=/echo&status={status}")
        assert response.status == 200
        assert response.json()["path"] == "/echo"
        no_follow = _session(server).request(
            "GET", f"/redirect?to=/echo&status={status}", follow_redirects=False
        )
        assert no_follow.status == status


def test_huge_body_is_drained_but_not_kept():
    with CountingServer() as server:
        session = _session(server)
        size = 50 * 1024 * 1024
        response = session.request("GET", f"/bytes/{size}", keep=1024)
        assert response.status == 200
        assert len(response.body) == 1024 and response.truncated
        # the connection is still usable: the whole body was read off the wire
        assert session.request("GET", "/echo").status == 200
        assert server.connections == 1


def test_head_has_no_body():
    with CountingServer() as server:
        session = _session(server)
        assert session.request("HEAD", "/bytes/100").body == b""
        assert session.request("GET", "/echo").status == 200


def test_connection_refused_is_data():
    session = Session(parse_origin(f"http://127.0.0.1:{closed_port()}"))
    response = session.request("GET", "/")
    assert response.status == 0 and response.error == "ConnectionRefused"


@pytest.mark.parametrize(
    "mode,error",
    [
        ("reset", "ConnectionReset"),
        ("malformed", "MalformedResponse"),
        ("close", "ConnectionClosed"),
    ],
)
def test_server_faults_are_named(mode, error):
    with FaultServer(mode) as server:
        response = _session(server).request("GET", "/")
        assert response.status == 0
        assert response.error in (
            error,
            "IncompleteResponse",
            "ConnectionReset",
            "ConnectionClosed",
        )
        if mode == "malformed":
            assert response.error == "MalformedResponse"


def test_read_timeout():
    with FaultServer("hang") as server:
        response = _session(server).request("GET", "/", timeout=0.3)
        assert response.error == "Timeout"


def test_unresolvable_host_is_named():
    session = Session(parse_origin("http://no-such-host.invalid"))
    assert session.request("GET", "/").error == "NameResolutionFailed"


def test_stale_keep_alive_connection_is_retried_once():
    with CountingServer() as server:
        session = _session(server)
        assert session.request("GET", "/echo").status == 200
        server.drop_connections()
        assert session.request("GET", "/echo").status == 200
        assert server.count("/echo") == 2


def test_split_url_and_head():
    base = parse_origin("http://127.0.0.1:8080")
    assert split_url("/a?b=1", base) == (base, "/a?b=1")
    origin, target = split_url("https://[::1]:8443/x", base)
    assert (origin.host_header, target) == ("[::1]:8443", "/x")
    with pytest.raises(ValueError, match="needs a host"):
        split_url("/a", None)
    head = build_head("GET", "/a", [("Accept", "application/json")])
    assert head.startswith(b"GET /a HTTP/1.1\r\nAccept: application/json\r\n")
    assert b"User-Agent: yamlswarm/" in head


_HEADS = [
    ("GET", "/a", [("Accept", "application/json")]),
    ("GET", "/a", [("User-Agent", "mine"), ("accept-encoding", "br")]),
    ("GET", "/a", [("Accept", "x\r\nInjected: 1")]),
    ("GET", "/a", [("Accept", "x\ny")]),
    ("GET", "/a", [("Accept", "x\x00")]),
    ("GET", "/a", [("Accept", "ok"), ("Bad Name", "v")]),
    ("GET", "/a", [("Accept", "\u20ac")]),
    ("GET", "/a b", []),
    ("GET", "/a\r\n", []),
    ("GE T", "/a", []),
    ("GET\r\n", "/a", []),
]


@pytest.mark.parametrize("method,target,headers", _HEADS)
def test_build_head_gives_the_checked_result_once_names_are_known(method, target, headers):
    """The second time a name or method is seen it is not checked again (a fast path): heads
    and errors stay those of the item-by-item checks."""
    from yamlswarm.runtime.http import message

    def outcome():
        try:
            return message.build_head(method, target, headers)
        except message.RequestError as exc:
            return exc.name, str(exc)

    checked = outcome()
    valid = [(name, "v") for name, _ in headers if message._TOKEN.fullmatch(name)]
    message.build_head("GET", "/", valid)  # every valid name and GET seen before
    assert set(dict(valid)) <= set(message._KNOWN_NAMES) and "GET" in message._KNOWN_METHODS
    assert outcome() == checked


@pytest.mark.parametrize(
    "target", ["/a?b=1&c=%20", "/a b", "/%zz", "/ü", "/a%", "/a\r\nX", "/[x]~!$'()*+,;=:@"]
)
def test_encode_target_fast_check_agrees_with_the_full_rules(target):
    from urllib.parse import quote

    from yamlswarm.runtime.http import message

    if any(c in target for c in "\r\n\x00"):
        with pytest.raises(message.RequestError):
            message.encode_target(target)
        return
    plain = message._PLAIN_TARGET.fullmatch(target)
    expected = (
        target
        if plain
        else quote(message._LONE_PERCENT.sub("%25", target), safe=message._TARGET_SAFE)
    )
    assert message.encode_target(target) == expected


def test_a_body_sent_after_a_head_response_does_not_fail_the_request():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    served = []

    def serve():
        for _ in range(2):
            conn, _ = listener.accept()
            request = conn.recv(65536)
            served.append(request.split(b" ", 1)[0])
            # a broken server: HEAD answered with a body
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    session = Session(parse_origin(f"http://127.0.0.1:{port}"))
    head = session.request("HEAD", "/")
    assert (head.status, head.error, head.body) == (200, None, b"")
    # the connection was not reused: the next request opens a fresh one and works
    assert session.request("GET", "/").body == b"hello"
    thread.join(timeout=5)
    listener.close()
    assert served == [b"HEAD", b"GET"]


def _one_shot_server(reply: bytes, connections: int = 2):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []

    def serve():
        for _ in range(connections):
            conn, _ = listener.accept()
            accepted.append(conn)
            while True:
                request = conn.recv(65536)
                if not request:
                    break
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return listener, accepted


def test_bytes_beyond_the_body_drop_the_connection():
    listener, accepted = _one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA")
    session = Session(parse_origin(f"http://127.0.0.1:{listener.getsockname()[1]}"))
    first = session.request("GET", "/")
    second = session.request("GET", "/")
    assert (first.status, first.body, second.status, second.body) == (200, b"hi", 200, b"hi")
    assert len(accepted) == 2  # the second request could not trust the first connection
    listener.close()


def test_a_large_body_arrives_whole_across_many_reads():
    with CountingServer() as server:
        session = _session(server)
        size = 3 * 1024 * 1024 + 7
        response = session.request("GET", f"/bytes/{size}")
        assert len(response.body) == size and not response.truncated
        assert response.body[:16] == b"0123456789abcdef"
        assert session.request("GET", "/echo").status == 200
        assert server.connections == 1


def test_timeout_changes_on_a_live_connection():
    with CountingServer() as server:
        session = _session(server)
        assert session.request("GET", "/slow/100", timeout=5).status == 200
        assert session.request("GET", "/slow/600", timeout=0.2).error == "Timeout"
        assert session.request("GET", "/slow/10", timeout=5).status == 200


def test_latency_ends_when_the_response_arrived_not_when_the_user_got_to_run():
    import sys
    import time

    import gevent

    if not sys.platform.startswith("linux"):
        pytest.skip("kernel receive timestamps are a Linux feature")
    with CountingServer() as server:
        session = _session(server)
        assert session.request("GET", "/echo").status == 200  # connected
        start = time.perf_counter()
        responses = []

        def hog() -> None:  # keeps the event loop from running anyone else for 200 ms
            end = time.perf_counter() + 0.2
            while time.perf_counter() < end:
                pass

        user = gevent.spawn(lambda: responses.append(session.request("GET", "/echo")))
        gevent.spawn(hog)
        user.join()
        finished = time.perf_counter()
    (response,) = responses
    assert response.status == 200
    assert finished - start >= 0.2  # the user only got to run after the hog
    assert response.received_at is not None
    assert response.received_at - start < 0.1  # but the response had arrived long before
