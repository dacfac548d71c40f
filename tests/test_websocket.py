"""`websocket:` steps against a real WebSocket server on loopback (tests/ws_server.py).

Every run goes through the CLI as a user would; what arrived is checked on the
server's side and compared with the JSON result's WS rows.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, run_json, yamlswarm
from tests.protocol_server import ForwardProxy, make_ca
from tests.servers import closed_port
from tests.ws_server import WsServer
from yamlswarm.runtime.http.message import Origin
from yamlswarm.runtime.ws import ws_url

pytest.importorskip("websockets", reason="the WebSocket test server needs `websockets`")

CHAT = REPO / "scenarios" / "websocket_chat.yaml"


def _rows(result: dict) -> dict[str, dict]:
    return {row["name"]: row for row in result["requests"] if row["method"] == "WS"}


def _errors(result: dict) -> dict[str, int]:
    return {e["error"]: e["count"] for e in result["errors"]} if result["errors"] else {}


def _scenario(steps: str, url: str = "/chat", extra: str = "") -> str:
    body = "\n".join(f"                {line}" for line in steps.strip().splitlines())
    return (
        "version: 1\nload: {iterations: 4, users: 2}\nusers:\n  - flows:\n      - steps:\n"
        f"          - websocket:\n              url: {url}\n              timeout: 2s\n{extra}"
        f"              steps:\n{body}\n"
    )


def test_the_chat_example_counts_what_the_server_saw(tmp_path: Path) -> None:
    with WsServer() as server:
        out = tmp_path / "out.json"
        run = yamlswarm(
            "run", CHAT, "--host", server.url, "--iterations", "6", "-u", "2", "-q", "--json", out
        )
        import json

        result = json.loads(out.read_text())
    assert run.returncode == 0, run.stderr
    rows = _rows(result)
    sends = sum(r["requests"] for name, r in rows.items() if name.startswith(("send", "say")))
    receives = sum(r["requests"] for name, r in rows.items() if name.startswith("receive"))
    assert rows["connect /chat"]["requests"] == server.connections == 6
    assert sends == server.received == 6 * 4
    # every message the server sent was received, but `until` skipped the 2 noise messages
    assert server.sent == 6 * 6 and receives == 6 * 4
    # sizes: what the server got and sent, the skipped noise messages included
    size = {name: r["size_bytes"]["total"] for name, r in rows.items()}
    assert sum(v for name, v in size.items() if name.startswith(("send", "say"))) == server.received_bytes > 0  # fmt: skip
    assert sum(v for name, v in size.items() if name.startswith("receive")) == server.sent_bytes > 0  # fmt: skip
    assert size["connect /chat"] == 0
    assert rows["say hello"]["requests"] == 6 and rows["say hello"]["failures"] == 0
    assert all(r["failures"] == 0 for r in rows.values())
    assert set(server.paths) == {"/chat?room=lobby"}
    assert {h["x-chat-user"] for h in server.headers} <= {"chatter-1", "chatter-2"}
    assert set(server.subprotocols) == {"chat.v1"}


def test_refused_connections_are_failed_connect_rows(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    run, result = run_json(tmp_path, _scenario("- send: hi\n- receive: {}"), host)
    assert result is not None, run.stderr
    rows = _rows(result)
    assert rows["connect /chat"]["failures"] == rows["connect /chat"]["requests"] == 4
    assert "send /chat" not in rows or rows["send /chat"]["requests"] == 0
    assert _errors(result) == {"ConnectionRefused": 4}
    assert "Traceback" not in run.stderr


def test_a_rejected_handshake_names_the_status(tmp_path: Path) -> None:
    with WsServer("reject") as server:
        run, result = run_json(tmp_path, _scenario("- send: hi"), server.url)
    assert result is not None, run.stderr
    assert _errors(result) == {"WS handshake rejected: HTTP 403": 4}
    assert server.received == 0 and len(server.paths) == 4


def test_a_close_by_the_peer_fails_the_step_and_ends_the_block(tmp_path: Path) -> None:
    steps = "- receive: {timeout: 1s}\n- send: after\n- think: 0"
    with WsServer("close") as server:
        run, result = run_json(tmp_path, _scenario(steps), server.url)
    assert result is not None, run.stderr
    rows = _rows(result)
    assert rows["connect /chat"]["failures"] == 0 and server.connections == 4
    assert rows["receive /chat"]["failures"] == 4
    assert _errors(result) == {"WS closed by peer (code 1011)": 4}
    assert "send /chat" not in rows  # the rest of the block is skipped
    assert server.received == 0


def test_a_receive_timeout_is_a_failure_and_the_user_lives_on(tmp_path: Path) -> None:
    steps = "- send: ping\n- receive: {timeout: 200ms}\n- send: again"
    with WsServer("silent") as server:
        run, result = run_json(tmp_path, _scenario(steps), server.url)
    assert result is not None, run.stderr
    rows = _rows(result)
    assert rows["receive /chat"]["failures"] == 4
    assert _errors(result) == {"WS receive timed out after 0.2s": 4}
    assert rows["send /chat"]["requests"] == server.received == 8  # the block went on


def test_a_stopped_user_closes_its_connection(tmp_path: Path) -> None:
    text = (
        "version: 1\nusers:\n  - flows:\n      - steps:\n          - websocket:\n"
        "              url: /chat\n              steps:\n"
        "                - send: wait\n                - receive: {timeout: 60s}\n"
    )
    with WsServer("silent") as server:
        started = time.monotonic()
        run, result = run_json(
            tmp_path, text, server.url, "-u", "2", "-r", "20", "-t", "1s", "--stop-timeout", "1s"
        )
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while server.closed < server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
    assert result is not None, run.stderr
    assert took < 30  # the 60 s receive did not hold the run
    assert server.connections == 2 and server.closed == 2 and server.received == 2


def test_failed_checks_and_until_are_named_failures(tmp_path: Path) -> None:
    steps = """
- send: '{"n": 1}'
- receive: {check: {jmespath: [{expr: n, eq: 2}]}}
- send: plain
- receive: {until: {body_contains: never}, timeout: 300ms}
"""
    with WsServer() as server:
        run, result = run_json(tmp_path, _scenario(steps), server.url)
    assert result is not None, run.stderr
    assert _errors(result) == {
        "check failed: jmespath n eq 2": 4,
        "WS receive until body_contains 'never': timed out after 0.3s": 4,
    }
    assert server.received == 8


def test_json_binary_and_templated_messages_arrive_as_written(tmp_path: Path) -> None:
    steps = """
- send: {json: {user: "{{ user.id }}", n: 2}}
- receive:
    check: {jmespath: [{expr: n, eq: 2}]}
    extract: {who: {jmespath: user}}
- send: "again {{ who }}"
- receive: {check: {body_matches: "^again \\\\d+$"}}
- send: {binary: bytes}
- receive: {check: {body_contains: bytes}}
- send: {base64: aGk=}
- receive: {check: {body_contains: hi}}
- close: {code: 1000, reason: bye}
- send: too late
"""
    with WsServer() as server:
        run, result = run_json(tmp_path, _scenario(steps), server.url)
    assert result is not None, run.stderr
    assert _errors(result) == {"WS connection closed": 4}  # the send after close
    rows = _rows(result)
    assert rows["receive /chat"]["requests"] == 16 and rows["receive /chat"]["failures"] == 0
    assert server.received == 16


def test_send_receive_close_are_only_valid_inside_websocket_steps(tmp_path: Path) -> None:
    text = """\
version: 1
users:
  - flows:
      - steps:
          - websocket:
              url: /chat
              steps:
                - sned: hi
                - receive: {timout: 1s}
          - send: outside
"""
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    run = yamlswarm("validate", scenario)
    assert run.returncode == 2
    out = run.stdout + run.stderr
    assert "bad.yaml:8:19: users[0].flows[0].steps[0].websocket.steps[0]: " in out
    assert "(found: sned; did you mean 'send'?)" in out
    assert "'timout' is not a known key (did you mean 'timeout'?)" in out
    assert "bad.yaml:10:13:" in out and "'send' is only valid inside websocket.steps" in out
    assert "Traceback" not in out


def test_a_websocket_url_must_be_a_path_or_ws_url(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(_scenario("- send: hi", url="ftp://x/chat"))
    run = yamlswarm("validate", scenario)
    assert run.returncode == 2
    assert (
        "'ftp://x/chat' is not a WebSocket URL: use a path, ws:// or wss://"
        in run.stdout + run.stderr
    )


def test_urls_map_http_to_ws_and_https_to_wss() -> None:
    plain, tls = Origin("http", "127.0.0.1", 8080), Origin("https", "127.0.0.1", 443)
    assert ws_url("/chat?x=1", plain) == "ws://127.0.0.1:8080/chat?x=1"
    assert ws_url("/chat", tls) == "wss://127.0.0.1/chat"
    assert ws_url("http://127.0.0.1:1/a", None) == "ws://127.0.0.1:1/a"
    assert ws_url("https://127.0.0.1/a", None) == "wss://127.0.0.1/a"
    assert ws_url("wss://127.0.0.1/a", plain) == "wss://127.0.0.1/a"
    with pytest.raises(ValueError, match="needs a host"):
        ws_url("/chat", None)


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_wss_with_a_self_signed_certificate(tmp_path: Path, self_signed: tuple[str, str]) -> None:
    steps = "- send: secret\n- receive: {check: {body_contains: secret}}"
    with WsServer(tls=self_signed) as server:
        assert server.url.startswith("https://")
        run, verified = run_json(tmp_path, _scenario(steps), server.url)
        assert verified is not None, run.stderr
        assert set(_errors(verified)) == {"TLSCertificateInvalid"}
        assert server.received == 0
        insecure = "              verify_tls: false\n"
        run, result = run_json(tmp_path, _scenario(steps, extra=insecure), server.url)
    assert result is not None, run.stderr
    assert _errors(result) == {}
    assert _rows(result)["receive /chat"]["requests"] == server.received == 4


def test_wss_uses_defaults_tls_a_private_ca_and_a_client_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a certificate authority")
    certs = make_ca(tmp_path)
    steps = "- send: secret\n- receive: {check: {body_contains: secret}}"
    trusting = f"defaults:\n  tls: {{ca_bundle: {certs.ca}}}\n"
    mutual = (
        f"defaults:\n  tls: {{ca_bundle: {certs.ca}, client_cert: {certs.client_cert},"
        f" client_key: {certs.client_key}}}\n"
    )
    with WsServer(
        tls=(str(certs.server_cert), str(certs.server_key)), client_ca=str(certs.ca)
    ) as server:
        run, refused = run_json(tmp_path, trusting + _scenario(steps), server.url)
        assert refused is not None, run.stderr
        assert server.received == 0 and server.client_names == []  # no certificate: refused
        assert _errors(refused)
        run, result = run_json(tmp_path, mutual + _scenario(steps), server.url)
    assert result is not None, run.stderr
    assert _errors(result) == {}
    assert _rows(result)["receive /chat"]["requests"] == server.received == 4
    assert (
        server.client_names == ["yamlswarm client"] * server.connections == ["yamlswarm client"] * 4
    )


def test_sizes_count_text_as_utf8_bytes(tmp_path: Path) -> None:
    text = "héllo ✓"
    steps = f"- send: {text}\n- receive: {{check: {{body_contains: héllo}}}}"
    with WsServer() as server:
        run, result = run_json(tmp_path, _scenario(steps), server.url)
    assert result is not None, run.stderr
    rows = _rows(result)
    assert rows["send /chat"]["size_bytes"]["total"] == server.received_bytes == 4 * len(text.encode())  # fmt: skip
    assert rows["receive /chat"]["size_bytes"]["total"] == server.sent_bytes == 4 * len(text.encode())  # fmt: skip


NO_PROXY_ENV = {"NO_PROXY": "", "no_proxy": "", "HTTP_PROXY": "", "HTTPS_PROXY": ""}


def test_ws_and_wss_go_through_the_proxy_as_http_does(tmp_path: Path) -> None:
    """defaults.proxy (and HTTP_PROXY for ws://): a CONNECT tunnel, as browsers open one."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a certificate authority")
    certs = make_ca(tmp_path)
    steps = "- send: hi\n- receive: {check: {body_contains: hi}}"
    with ForwardProxy() as proxy, WsServer() as plain:
        configured = f"defaults: {{proxy: {proxy.url}}}\n"
        run, result = run_json(tmp_path, configured + _scenario(steps), plain.url, env=NO_PROXY_ENV)
        assert result is not None and _errors(result) == {}, run.stderr
        assert proxy.asked == [(f"CONNECT 127.0.0.1:{plain.port} HTTP/1.1", None)] * 4
        assert plain.received == 4
        env = {**NO_PROXY_ENV, "HTTP_PROXY": proxy.url}
        run, result = run_json(tmp_path, _scenario(steps), plain.url, env=env)
        assert result is not None and _errors(result) == {}, run.stderr
        assert len(proxy.asked) == 8 and plain.received == 8
        run, result = run_json(tmp_path, _scenario(steps), plain.url, env={**env, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})  # fmt: skip
        assert result is not None and _errors(result) == {}, run.stderr
        assert len(proxy.asked) == 8 and plain.received == 12  # NO_PROXY: straight there
    with ForwardProxy() as proxy, WsServer(tls=(str(certs.server_cert), str(certs.server_key))) as tls:  # fmt: skip
        trusting = f"defaults: {{proxy: {proxy.url}, tls: {{ca_bundle: {certs.ca}}}}}\n"
        run, result = run_json(tmp_path, trusting + _scenario(steps), tls.url, env=NO_PROXY_ENV)
        assert result is not None and _errors(result) == {}, run.stderr
        assert proxy.asked == [(f"CONNECT 127.0.0.1:{tls.port} HTTP/1.1", None)] * 4
        assert tls.received == 4


def test_a_proxy_that_cannot_open_the_tunnel_is_a_named_connect_failure(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    with ForwardProxy() as proxy:
        configured = f"defaults: {{proxy: {proxy.url}}}\n"
        run, result = run_json(tmp_path, configured + _scenario("- send: hi"), host, env=NO_PROXY_ENV)  # fmt: skip
    assert result is not None, run.stderr
    rows = _rows(result)
    assert rows["connect /chat"]["failures"] == rows["connect /chat"]["requests"] == 4
    assert set(_errors(result)) == {"ProxyError: connection closed"}  # the proxy could not connect
