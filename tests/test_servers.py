"""Known-good checks of the test servers in tests/servers.py, with plain http.client and sockets."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time

import pytest
from servers import CountingServer, FaultServer, closed_port, free_port


def _conn(server: CountingServer | FaultServer, timeout: float = 5) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def _get(
    conn: http.client.HTTPConnection, path: str, **kw
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(kw.pop("method", "GET"), path, **kw)
    response = conn.getresponse()
    return response, response.read()


@pytest.fixture()
def counting():
    with CountingServer() as server:
        yield server


def test_counts_per_path_and_method_over_one_keep_alive_connection(counting):
    conn = _conn(counting)
    for _ in range(5):
        response, _ = _get(conn, "/a?x=1")
        assert response.status == 200
    _get(conn, "/a", method="POST", body=b"{}")
    _get(conn, "/b")
    assert counting.count("/a", "GET") == 5
    assert counting.count("/a", "post") == 1
    assert counting.count("/a") == 6
    assert counting.count("/b") == 1
    assert counting.total == 7
    assert counting.connections == 1
    conn.close()


def test_keep_alive_requests_have_no_delayed_ack_stall(counting):
    conn = _conn(counting)
    elapsed = []
    for _ in range(9):
        start = time.perf_counter()
        _get(conn, "/echo", method="POST", body=b'{"a": 1}')
        elapsed.append(time.perf_counter() - start)
    assert sorted(elapsed)[4] < 0.02  # Nagle + delayed ACK would make each ~40 ms


def test_echo_returns_what_was_sent_and_records_it(counting):
    conn = _conn(counting)
    body = json.dumps({"a": [1, 2]})
    response, raw = _get(
        conn,
        "/echo?q=1&r=2&r=3",
        method="PUT",
        body=body,
        headers={"X-Test": "yes", "Content-Type": "application/json"},
    )
    echoed = json.loads(raw)
    assert response.status == 200
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo"
    assert echoed["query"] == {"q": "1", "r": ["2", "3"]}
    assert echoed["headers"]["X-Test"] == "yes"
    assert echoed["json"] == {"a": [1, 2]}
    last = counting.last
    assert (last.method, last.path, last.header("x-test")) == ("PUT", "/echo", "yes")
    assert last.json() == {"a": [1, 2]}
    assert last.query == {"q": ["1"], "r": ["2", "3"]}


def test_status_codes(counting):
    conn = _conn(counting)
    for code in (200, 201, 404, 500, 503):
        response, raw = _get(conn, f"/status/{code}")
        assert response.status == code
        assert json.loads(raw) == {"status": code}
    response, raw = _get(conn, "/status/204")
    assert (response.status, raw) == (204, b"")


def test_cookies_round_trip(counting):
    conn = _conn(counting)
    response, _ = _get(conn, "/set-cookie?name=sid&value=abc")
    assert response.getheader("Set-Cookie") == "sid=abc; Path=/"
    _, raw = _get(conn, "/cookies", headers={"Cookie": "sid=abc; other=2"})
    assert json.loads(raw)["cookies"] == {"sid": "abc", "other": "2"}


def test_redirect(counting):
    conn = _conn(counting)
    response, _ = _get(conn, "/redirect?to=/echo")
    assert (response.status, response.getheader("Location")) == (302, "/echo")
    response, _ = _get(conn, "/redirect?to=/x&status=301")
    assert (response.status, response.getheader("Location")) == (301, "/x")


def test_chunked_and_gzip(counting):
    conn = _conn(counting)
    response, raw = _get(conn, "/chunked")
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert json.loads(raw) == {"chunked": True, "parts": 3}
    response, raw = _get(conn, "/gzip")
    assert response.getheader("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(raw)) == {"gzipped": True}


def test_big_bytes_are_streamed_in_full(counting):
    size = 50_000_000
    conn = _conn(counting, timeout=30)
    conn.request("GET", f"/bytes/{size}")
    response = conn.getresponse()
    assert int(response.getheader("Content-Length")) == size
    total = 0
    while chunk := response.read(1 << 20):
        total += len(chunk)
    assert total == size
    response, raw = _get(conn, "/bytes/10")  # the connection is still usable
    assert raw == b"0123456789"


def test_head_has_no_body(counting):
    conn = _conn(counting)
    response, raw = _get(conn, "/bytes/100", method="HEAD")
    assert (response.status, response.getheader("Content-Length"), raw) == (200, "100", b"")
    _, raw = _get(conn, "/bytes/3")
    assert raw == b"012"


def test_slow_route_waits(counting):
    conn = _conn(counting)
    start = time.perf_counter()
    _, raw = _get(conn, "/slow/120")
    assert time.perf_counter() - start >= 0.12
    assert json.loads(raw) == {"slept_ms": 120}


def test_latency_pattern_cycles_in_arrival_order():
    with CountingServer(latency_pattern=[0.0, 0.08]) as server:
        conn = _conn(server)
        elapsed = []
        for _ in range(4):
            start = time.perf_counter()
            _get(conn, "/")
            elapsed.append(time.perf_counter() - start)
    assert elapsed[1] >= 0.08 and elapsed[3] >= 0.08
    assert elapsed[0] < 0.06 and elapsed[2] < 0.06


def test_reset_clears_counters(counting):
    conn = _conn(counting)
    _get(conn, "/x")
    counting.reset()
    assert (counting.total, counting.count("/x"), len(counting.requests)) == (0, 0, 0)


def test_stop_closes_idle_keep_alive_connections():
    server = CountingServer()
    conn = _conn(server)
    _get(conn, "/")
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 2
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _get(conn, "/")


def _raw_request(port: int, timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def _drain(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_fault_reset_sends_rst():
    with FaultServer("reset") as server:
        sock = _raw_request(server.port)
        with pytest.raises(ConnectionResetError):
            _drain(sock)
        sock.close()
        assert (server.connections, server.requests) == (1, 1)


def test_fault_malformed_status_line():
    with FaultServer("malformed") as server, pytest.raises(http.client.BadStatusLine):
        _get(_conn(server), "/")


def test_fault_close_without_response():
    with FaultServer("close") as server:
        sock = _raw_request(server.port)
        assert _drain(sock) == b""
        sock.close()
        with pytest.raises(http.client.RemoteDisconnected):
            _get(_conn(server), "/")
        assert server.requests == 2


def test_fault_hang_gives_read_timeout_and_stops_promptly():
    server = FaultServer("hang")
    sock = _raw_request(server.port, timeout=0.3)
    with pytest.raises(socket.timeout):
        sock.recv(10)
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 2
    assert server.requests == 1
    sock.close()


def test_fault_freeze_stalls_then_recovers():
    with FaultServer("freeze") as server:
        conn = _conn(server)
        response, raw = _get(conn, "/")
        assert (response.status, json.loads(raw)) == (200, {"ok": True})
        server.freeze(0.3)
        start = time.perf_counter()
        _get(conn, "/")
        assert time.perf_counter() - start >= 0.25
        start = time.perf_counter()
        _get(conn, "/")
        assert time.perf_counter() - start < 0.2
        assert (server.connections, server.requests) == (1, 3)


def test_fault_unknown_mode():
    with pytest.raises(ValueError, match="unknown FaultServer mode"):
        FaultServer("explode")


def test_free_port_is_bindable_and_closed_port_refuses():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    refused = closed_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", refused), timeout=2)
