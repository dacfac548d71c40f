"""Conformance of the wire layer: each rule one case against the scripted `ProtocolServer`.

Framing (1xx, chunked, close-delimited, Content-Length, bodiless responses, an early 413,
`Connection: close`, a server's keep-alive timeout), retries (idempotent methods only,
counted on the server), decoding (gzip, deflate, br, zstd, bounded), limits and deadlines.
The framing cases run twice: through gevent's internals (the fast path) and through its
public API (the fallback when those internals are gone).
"""

from __future__ import annotations

import time

import gevent
import pytest

from tests.protocol_server import PAYLOAD, ProtocolServer
from yamlswarm.plan import HttpLimits
from yamlswarm.runtime.http import framing, wire
from yamlswarm.runtime.http import session as session_module
from yamlswarm.runtime.http.message import parse_origin
from yamlswarm.runtime.http.session import Session


@pytest.fixture(params=["fast", "public"])
def io_mode(request, monkeypatch):
    """Run a case over gevent's internals, then over its public socket API only."""
    if request.param == "fast" and not wire.FAST_IO:
        pytest.skip("this gevent lacks the internals of the fast path")
    monkeypatch.setattr(wire, "FAST_IO", request.param == "fast")
    return request.param


@pytest.fixture
def server():
    with ProtocolServer() as running:
        yield running


def _session(server: ProtocolServer, **options) -> Session:
    return Session(parse_origin(server.url), **options)


# ---------------------------------------------------------------- framing


@pytest.mark.parametrize("count", [1, 2, 5])
def test_interim_responses_are_skipped_and_the_connection_stays_in_step(server, io_mode, count):
    session = _session(server)
    response = session.request("GET", f"/interim/{count}")
    assert (response.status, response.body, response.error) == (200, b"final", None)
    assert response.headers.get("link") is None  # the 103's headers are not the response's
    after = session.request("GET", "/ok")
    assert after.body == b"ok 1/1"  # same connection, next request, in step
    assert server.connections == 1


def test_a_flood_of_interim_responses_is_a_named_error(server, io_mode):
    response = _session(server).request("GET", "/interim-flood")
    assert (response.status, response.error) == (0, "TooManyInterimResponses")


def test_chunked_with_extensions_and_trailers(server, io_mode):
    session = _session(server)
    response = session.request("GET", "/chunked")
    assert (response.status, response.body) == (200, b"hello world")
    assert response.headers.get("x-checksum") is None  # trailers are read, not mixed in
    assert session.request("GET", "/ok").body == b"ok 1/1"


def test_a_close_delimited_body_is_read_to_the_end_and_the_connection_not_reused(server, io_mode):
    session = _session(server)
    response = session.request("GET", "/close-delimited")
    assert (response.status, response.body) == (200, b"until the close")
    assert session.request("GET", "/ok").body == b"ok 2/0"


@pytest.mark.parametrize(
    "case,error",
    [
        ("superscript", "InvalidContentLength"),  # '²'.isdigit() is True, yet not a length
        ("superscript-utf8", "InvalidContentLength"),
        ("negative", "InvalidContentLength"),
        ("plus", "InvalidContentLength"),
        ("space", "InvalidContentLength"),
        ("conflict", "ConflictingContentLength"),
        ("agree", None),
        ("list", None),
    ],
)
def test_content_length_is_strict(server, io_mode, case, error):
    response = _session(server).request("GET", f"/cl/{case}")
    assert response.error == error
    if error is None:
        assert (response.status, response.body) == (200, b"hi")
    else:
        assert response.status == 0


@pytest.mark.parametrize("method,path,status", [("HEAD", "/nobody/200", 200), ("GET", "/nobody/204", 204), ("GET", "/nobody/304", 304)])  # fmt: skip
def test_head_204_and_304_have_no_body_whatever_content_length_says(server, io_mode, method, path, status):  # fmt: skip
    session = _session(server)
    response = session.request(method, path)
    assert (response.status, response.body, response.error) == (status, b"", None)
    assert session.request("GET", "/ok").body == b"ok 1/1"  # nothing left unread on the wire


@pytest.mark.parametrize("method,path,status", [("HEAD", "/late-body/200", 200), ("GET", "/late-body/204", 204), ("GET", "/late-body/304", 304)])  # fmt: skip
def test_a_body_sent_anyway_after_head_204_or_304_is_not_the_next_response(server, io_mode, method, path, status):  # fmt: skip
    session = _session(server)
    for _ in range(3):
        response = session.request(method, path)
        assert (response.status, response.body, response.error) == (status, b"", None)
        after = session.request("GET", "/ok")  # the stray body arrives just before its answer
        assert (after.status, after.error) == (200, None)
    assert after.body == b"ok 1/5" and server.connections == 1  # one connection throughout


def test_a_huge_announced_head_body_is_not_waited_for(monkeypatch):
    """A HEAD of a large file announces its size: the guard never buffers that much."""
    monkeypatch.setattr(framing, "MAX_STRAY", 9)  # /late-body announces 10 bytes
    with ProtocolServer() as server:
        session = _session(server)
        assert session.request("HEAD", "/late-body/200").status == 200
        after = session.request("GET", "/ok")
    assert after.error == "MalformedResponse"  # not skipped: the server's bytes are reported


def test_a_server_answering_early_gets_its_answer_read(server, io_mode):
    session = _session(server)
    response = session.request("POST", "/early-413", body=b"x" * (8 << 20), timeout=10)
    assert (response.status, response.body, response.error) == (413, b"big", None)
    assert server.count("/early-413") == 1
    assert session.request("GET", "/ok").status == 200


def test_connection_close_is_honoured(server, io_mode):
    session = _session(server)
    assert session.request("GET", "/close").body == b"bye"
    assert session.request("GET", "/ok").body == b"ok 2/0"


def test_a_server_keep_alive_timeout_is_noticed_before_sending(io_mode):
    with ProtocolServer(idle_timeout=0.2) as server:
        session = _session(server)
        assert session.request("GET", "/ok").status == 200
        gevent.sleep(0.5)  # the server has closed the idle connection meanwhile
        response = session.request("POST", "/ok", body=b"once")
        assert (response.status, response.body) == (200, b"ok 2/0")
        assert server.count("/ok", "POST") == 1
        assert server.connections == 2


def test_garbage_instead_of_http_is_a_malformed_response(server, io_mode):
    assert _session(server).request("GET", "/garbage").error == "MalformedResponse"


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_an_idempotent_request_is_retried_when_a_reused_connection_died(server, method):
    session = _session(server)
    assert session.request(method, "/stale-second").status == 200
    response = session.request(method, "/stale-second")
    assert (response.status, response.error) == (200, None)
    assert server.count("/stale-second", method) == 3  # the one that vanished, then the retry


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_request_reaches_the_server_at_most_once(server, method):
    session = _session(server)
    assert session.request(method, "/stale-second", body=b"1").status == 200
    response = session.request(method, "/stale-second", body=b"2")
    assert (response.status, response.error) == (0, "ConnectionClosed")
    assert [r.body for r in server.requests] == [b"1", b"2"]  # never sent twice


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
def test_encoded_bodies_are_decoded(server, coding):
    response = _session(server).request("GET", f"/encoded/{coding}")
    assert (response.status, response.truncated) == (200, False)
    assert response.body == PAYLOAD


def test_a_gzip_bomb_stops_at_the_body_limit(server):
    limit = 1 << 20
    started = time.perf_counter()
    response = _session(server).request("GET", "/gzip-bomb", keep=limit)
    assert response.status == 200 and response.truncated
    assert response.body == bytes(limit)  # decoded up to the limit, not 200 MB
    assert time.perf_counter() - started < 5


def test_a_body_cut_at_the_limit_is_decoded_as_far_as_it_goes(server):
    response = _session(server).request("GET", "/encoded/gzip", keep=60)
    assert response.truncated and response.status == 200
    assert response.body and PAYLOAD.startswith(response.body)  # plain text, never gzip bytes


# ---------------------------------------------------------------- deadlines and limits


def test_the_timeout_covers_the_whole_response_not_each_read(server, io_mode):
    started = time.perf_counter()
    response = _session(server).request("GET", "/trickle/20", timeout=2)
    elapsed = time.perf_counter() - started
    assert response.error == "Timeout"
    assert 1.8 < elapsed < 3.5  # a byte every 0.5 s would keep a per-read timeout alive


def test_a_huge_response_head_fails_fast_at_the_limit(server, io_mode):
    started = time.perf_counter()
    response = _session(server).request("GET", "/huge-header/300", timeout=30)
    assert response.error == "HeadersTooLarge"
    assert time.perf_counter() - started < 3


def test_header_count_limit_is_named_and_configurable(server):
    assert _session(server).request("GET", "/many-headers/50").status == 200
    assert _session(server).request("GET", "/many-headers/150").error == "TooManyHeaders"
    wide = _session(server, limits=HttpLimits(max_headers=200))
    assert wide.request("GET", "/many-headers/150").status == 200
    narrow = _session(server, limits=HttpLimits(max_header_bytes=1024))
    assert narrow.request("GET", "/many-headers/150").error == "HeadersTooLarge"


# ---------------------------------------------------------------- our bugs are not failures


def test_an_unexpected_exception_in_the_wire_layer_escapes(server, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(session_module, "read_response", broken)
    with pytest.raises(RuntimeError, match="a bug of ours"):
        _session(server).request("GET", "/chunked")


def test_concurrent_requests_of_one_user_each_get_a_connection(server, io_mode):
    session = _session(server)
    jobs = [gevent.spawn(session.request, "GET", "/trickle/2", timeout=5) for _ in range(2)]
    gevent.joinall(jobs, timeout=10)
    assert [job.value.status for job in jobs] == [200, 200]
    assert server.connections == 2
    assert session.request("GET", "/ok").status == 200  # a pooled one is reused
    assert server.connections == 2
