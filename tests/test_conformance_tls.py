"""TLS and proxies against real loopback servers: a self-signed CA made with `openssl` at test
time, a TLS `ProtocolServer` (optionally requiring a client certificate), and `ForwardProxy`
(CONNECT tunnels and absolute-form forwarding). Checked from the servers' side."""

from __future__ import annotations

import base64
import shutil
import sys
import time

import gevent
import pytest

from tests.cli_helpers import run_json, yamlswarm
from tests.compile_helpers import problems
from tests.protocol_server import ForwardProxy, ProtocolServer, make_ca
from yamlswarm.plan import TlsSettings
from yamlswarm.runtime.http import wire
from yamlswarm.runtime.http.message import parse_origin
from yamlswarm.runtime.http.session import Session

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(params=["fast", "public"])
def io_mode(request, monkeypatch):
    if request.param == "fast" and not wire.FAST_IO:
        pytest.skip("this gevent lacks the internals of the fast path")
    monkeypatch.setattr(wire, "FAST_IO", request.param == "fast")
    return request.param


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _trusting(certs, **tls) -> TlsSettings:
    return TlsSettings(ca_bundle=str(certs.ca), **tls)


def _session(server, tls: TlsSettings | None = None, **options) -> Session:
    verify = True if tls is None else tls.verify
    return Session(parse_origin(server.url), tls=tls, verify_tls=verify, **options)


def test_a_private_ca_is_trusted_only_when_given(certs, io_mode):
    with ProtocolServer(tls=certs.server_context()) as server:
        trusted = _session(server, _trusting(certs))
        response = trusted.request("GET", "/chunked")
        assert (response.status, response.body) == (200, b"hello world")
        assert trusted.request("GET", "/ok").body == b"ok 1/1"  # one TLS connection, kept
        assert _session(server).request("GET", "/ok").error == "TLSCertificateInvalid"
        unverified = _session(server, TlsSettings(verify=False))
        assert unverified.request("GET", "/ok").status == 200


def test_a_client_certificate_is_presented_when_asked(certs, io_mode):
    with ProtocolServer(tls=certs.server_context(require_client=True)) as server:
        without = _session(server, _trusting(certs)).request("GET", "/ok")
        assert without.status == 0 and without.error
        mtls = _trusting(
            certs, client_cert=str(certs.client_cert), client_key=str(certs.client_key)
        )
        assert _session(server, mtls).request("GET", "/ok").status == 200
        assert server.count("/ok") == 1  # the request without a certificate never arrived


def test_an_https_body_trickled_hits_the_timeout(certs, io_mode):
    with ProtocolServer(tls=certs.server_context()) as server:
        started = time.perf_counter()
        response = _session(server, _trusting(certs)).request("GET", "/trickle/20", timeout=2)
        assert response.error == "Timeout"
        assert 1.8 < time.perf_counter() - started < 3.5


def _hogged_request(session: Session) -> tuple[float, object]:
    """A request answered while another greenlet keeps the event loop busy for 200 ms."""
    start = time.perf_counter()
    responses = []

    def hog() -> None:
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            pass

    user = gevent.spawn(lambda: responses.append(session.request("GET", "/ok")))
    gevent.spawn(hog)
    user.join()
    assert time.perf_counter() - start >= 0.2
    return start, responses[0]


def test_https_latency_ends_when_the_response_arrived_like_http(certs):
    if not sys.platform.startswith("linux"):
        pytest.skip("kernel receive timestamps are a Linux feature")
    stamped = []
    with ProtocolServer(tls=certs.server_context()) as server:
        session = _session(server, _trusting(certs))
        assert session.request("GET", "/ok").status == 200  # connected, handshake done
        for _ in range(5):  # the kernel does not stamp every loopback segment (e.g. under load)
            start, response = _hogged_request(session)
            assert response.status == 200
            if response.received_at is not None:
                stamped.append((start, response.received_at))
            if len(stamped) == 2:
                break
    assert stamped, "no kernel receive timestamp in 5 TLS responses"
    for start, received_at in stamped:
        assert start <= received_at < start + 0.1  # the TLS records had arrived long before


# ---------------------------------------------------------------- proxies


def test_plain_http_through_a_proxy_uses_absolute_form(io_mode):
    with ProtocolServer() as server, ForwardProxy() as proxy:
        session = Session(parse_origin(server.url), proxy=proxy.url.replace("//", "//u%40x:pw@"))
        assert session.request("GET", "/ok?a=1").status == 200
        (seen,) = server.requests
        assert seen.target == f"{server.url}/ok?a=1"  # absolute-form, as RFC 9112 3.2.2 says
        line, auth = proxy.asked[0]
        assert line == f"GET {server.url}/ok?a=1 HTTP/1.1"
        assert auth == "Basic " + base64.b64encode(b"u@x:pw").decode()
        assert seen.header("Proxy-Authorization") is not None  # this test proxy passes it on


def test_https_through_a_proxy_uses_connect(certs, io_mode):
    with ProtocolServer(tls=certs.server_context()) as server, ForwardProxy() as proxy:
        session = Session(parse_origin(server.url), tls=_trusting(certs), proxy=proxy.url)
        assert session.request("GET", "/ok").status == 200
        assert session.request("GET", "/ok").body == b"ok 1/1"  # the tunnel is kept alive
        assert proxy.asked == [(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1", None)]
        assert [r.target for r in server.requests] == ["/ok", "/ok"]


def test_proxy_environment_variables_and_no_proxy(monkeypatch):
    with ProtocolServer() as server, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert Session(parse_origin(server.url)).request("GET", "/ok").status == 200
        assert len(proxy.asked) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert Session(parse_origin(server.url)).request("GET", "/ok").status == 200
        assert len(proxy.asked) == 1  # bypassed: straight to the server
        assert [r.target for r in server.requests] == [f"{server.url}/ok", "/ok"]


# ---------------------------------------------------------------- the scenario keys


def test_defaults_tls_and_proxy_in_a_scenario_run(tmp_path, certs):
    with ProtocolServer(tls=certs.server_context(require_client=True)) as server, ForwardProxy() as proxy:  # fmt: skip
        run, result = run_json(
            tmp_path,
            f"""
            version: 1
            defaults:
              proxy: {proxy.url}
              tls:
                ca_bundle: {certs.ca}
                client_cert: {certs.client_cert}
                client_key: {certs.client_key}
              limits: {{max_header_bytes: 8192, max_headers: 20}}
            load: {{iterations: 3}}
            users:
              - flows:
                  - steps:
                      - get: /chunked
                        check: {{status: 200, body_contains: hello world}}
            """,
            server.url,
            env={"NO_PROXY": "", "no_proxy": ""},
        )
        assert run.returncode == 0, run.stderr
        assert result["totals"]["requests"] == 3 == server.count("/chunked")
        assert result["totals"]["failures"] == 0
        assert proxy.asked[0][0] == f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"


def test_tls_files_and_limits_are_validated_with_locations(tmp_path):
    found = problems(
        tmp_path,
        """
        defaults:
          tls: {ca_bundle: missing-ca.pem, client_key: key.pem}
          proxy: socks5://127.0.0.1:1080
          limits: {max_headers: 0}
        users: [{flows: [{steps: [{get: /}]}]}]
        """,
    )
    paths = {path for path, _ in found}
    assert {"defaults.tls.ca_bundle", "defaults.tls.client_key", "defaults.proxy"} <= paths
    messages = " ".join(message for _, message in found)
    assert "missing-ca.pem" in messages and "socks5://" in messages


def test_validate_names_a_bad_limit_with_its_line(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "version: 1\ndefaults:\n  limits: {max_headers: 0}\nusers: [{flows: [{steps: [{get: /}]}]}]\n"
    )
    run = yamlswarm("validate", scenario)
    assert run.returncode == 2
    assert "s.yaml:3" in run.stdout + run.stderr and "max_headers" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_tls_files_that_are_not_pem_are_located_errors(tmp_path, certs):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    found = problems(
        tmp_path,
        f"""
        defaults:
          tls: {{ca_bundle: junk.pem, client_cert: {certs.client_cert}, client_key: {certs.server_key}}}
        users: [{{flows: [{{steps: [{{get: /}}]}}]}}]
        """,
    )
    assert {path for path, _ in found} == {"defaults.tls.ca_bundle", "defaults.tls.client_key"}


def test_a_scenario_timeout_holds_for_a_trickled_https_body(tmp_path, certs):
    with ProtocolServer(tls=certs.server_context()) as server:
        started = time.perf_counter()
        run, result = run_json(
            tmp_path,
            f"""
            version: 1
            defaults: {{tls: {{ca_bundle: {certs.ca}}}}}
            load: {{iterations: 1}}
            users:
              - flows:
                  - steps:
                      - get: /trickle/20
                        timeout: 2s
            """,
            server.url,
        )
        assert time.perf_counter() - started < 15
    assert result is not None, run.stderr
    assert result["totals"]["requests"] == 1 == server.count("/trickle/20")
    assert result["totals"]["failures"] == 1
    assert [e["error"] for e in result["errors"]] == ["Timeout"]
