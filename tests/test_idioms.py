"""The Locust idioms as YAML, run through the CLI against real servers that record what arrived:
session headers and set_header/unset_header, choose, probability, blocks/use, stop steps and
on_failure, check messages (table, JSON, JUnit) and the parallel step's concurrency."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.cli_helpers import run_json, write_scenario, yamlswarm
from tests.servers import CountingServer


def _headers_of(server: CountingServer, path: str) -> list[dict[str, str]]:
    return [{k.lower(): v for k, v in r.headers} for r in list(server.requests) if r.path == path]


def test_session_headers_follow_the_login_and_set_and_unset_header(tmp_path: Path) -> None:
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {iterations: 3, users: 1}
            users:
              - session:
                  headers:
                    Authorization: "Bearer {{ token }}"
                    X-User: "u{{ user.id }}"
                on_start:
                  - get: /echo/login?token=t-42
                    extract: {token: {jmespath: query.token}}
                flows:
                  - steps:
                      - get: /echo/before
                      - set_header: {X-Trace: "it-{{ iteration }}"}
                      - get: /echo/traced
                      - unset_header: [X-Trace, X-User]
                      - get: /echo/after
            """,
            server.url,
        )
        assert run.returncode == 0, run.stderr
        (login,) = _headers_of(server, "/echo/login")
        before, traced, after = (
            _headers_of(server, p) for p in ("/echo/before", "/echo/traced", "/echo/after")
        )
    assert "authorization" not in login  # the token did not exist yet: left out
    assert login["x-user"] == "u1"
    assert [h["authorization"] for h in before] == ["Bearer t-42"] * 3
    assert [h.get("x-trace") for h in before] == [None] * 3  # unset at the end of each iteration
    assert [h.get("x-user") for h in before] == ["u1", None, None]  # unset for good
    assert [h["x-trace"] for h in traced] == ["it-1", "it-2", "it-3"]
    assert all("x-trace" not in h and "x-user" not in h for h in after)
    assert all(h["authorization"] == "Bearer t-42" for h in after)
    assert result is not None and result["totals"]["failures"] == 0


def test_a_request_header_wins_over_the_session_one(tmp_path: Path) -> None:
    with CountingServer() as server:
        run, _ = run_json(
            tmp_path,
            """
            version: 1
            load: {iterations: 1, users: 1}
            users:
              - session: {headers: {X-Env: session}}
                flows:
                  - steps:
                      - get: /echo/own
                        headers: {x-env: own}
                      - get: /echo/plain
            """,
            server.url,
        )
        assert run.returncode == 0, run.stderr
        (own,) = _headers_of(server, "/echo/own")
        (plain,) = _headers_of(server, "/echo/plain")
    assert own["x-env"] == "own" and plain["x-env"] == "session"


def test_choose_probability_and_nested_blocks(tmp_path: Path) -> None:
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {iterations: 400, users: 4}
            blocks:
              visit:
                - get: /visit
                - use: look
              look:
                - get: /look
            users:
              - flows:
                  - steps:
                      - use: visit
                      - choose:
                          - {weight: 3, steps: [{get: /browse}]}
                          - {weight: 1, steps: [{get: /buy}, {use: look}]}
                      - get: /sometimes
                        probability: 0.25
            """,
            server.url,
            "--seed",
            "7",
        )
        assert run.returncode == 0, run.stderr
        counts = {p: server.count(p) for p in ("/visit", "/look", "/browse", "/buy", "/sometimes")}
    assert counts["/visit"] == 400
    assert counts["/browse"] + counts["/buy"] == 400
    assert 240 <= counts["/browse"] <= 360  # 3:1 of 400 is 300
    assert counts["/look"] == 400 + counts["/buy"]
    assert 60 <= counts["/sometimes"] <= 140  # 0.25 of 400 is 100
    assert result is not None and result["totals"]["requests"] == sum(counts.values())


def test_a_failed_login_stops_the_user_with_its_reason(tmp_path: Path, demo_api) -> None:
    demo_api.reset()
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {users: 3, spawn_rate: 100/s, duration: 3s}
        users:
          - session: {headers: {Authorization: "Bearer {{ token }}"}}
            on_start:
              - post: /login
                name: login
                json: {username: alice, password: wrong}
                extract: {token: {jmespath: access_token}}
                on_failure: stop_user
            flows:
              - steps:
                  - get: /api/v1/orders
        """,
    )
    out = tmp_path / "r.json"
    run = yamlswarm("run", scenario, "--host", demo_api.url, "--json", out)
    assert "users stopped: 3 (POST login failed)" in run.stdout, run.stdout + run.stderr
    stats = demo_api.stats()
    assert stats["by_route"].get("POST /login") == 3
    assert not any("orders" in route for route in stats["by_route"])  # no user got past its login
    assert json.loads(out.read_text())["users_stopped"] == {"POST login failed": 3}


def test_stop_test_ends_the_run_with_its_reason(tmp_path: Path) -> None:
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {users: 2, spawn_rate: 100/s, duration: 30s}
            users:
              - flows:
                  - steps:
                      - get: /echo/page
                        extract: {n: {jmespath: path}}
                      - if: "{{ iteration >= 3 }}"
                        then:
                          - stop: test
                            reason: "enough after {{ iteration }} iterations"
            """,
            server.url,
        )
        took = time.monotonic() - started
        pages = server.count("/echo/page")
    assert run.returncode == 0, run.stderr
    assert took < 25 and 3 <= pages <= 8
    assert result is not None and result["test_stopped"] == "enough after 3 iterations"


def test_check_messages_in_the_error_table_json_and_junit(tmp_path: Path, demo_api) -> None:
    junit = tmp_path / "junit.xml"
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {iterations: 2, users: 1}
        variables: {wanted: 1000}
        users:
          - flows:
              - steps:
                  - post: /login
                    json: {username: alice, password: secret}
                    check:
                      jmespath:
                        - expr: length(access_token)
                          ge: "{{ wanted }}"
                          message: "a token of {{ actual }} characters, wanted {{ expected }}"
                  - get: /health
                    check:
                      status: 201
                      message: "health answered {{ actual }}"
        """,
    )
    out = tmp_path / "r.json"
    run = yamlswarm("run", scenario, "--host", demo_api.url, "--json", out, "--junit", junit)
    assert run.returncode == 0, run.stderr  # no thresholds: failed checks do not fail the run
    data = json.loads(out.read_text())
    errors = {e["error"]: e["count"] for e in data["errors"]}
    told = "a token of 32 characters, wanted 1000"  # the demo's tokens are 16 bytes in hex
    assert errors[f"check failed: jmespath length(access_token) ge 1000 — {told}"] == 2
    assert errors["check failed: status 201 — health answered 200"] == 2
    assert told in run.stdout
    text = junit.read_text()
    assert "failed 2 times: health answered 200" in text
    assert f"failed 2 times: {told}" in text


class _ConcurrencyServer(ThreadingHTTPServer):
    """Every request sleeps 300 ms; records the most requests in flight at once, and cookies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.cookies: list[str | None] = []
        self.peers: set[int] = set()


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ConcurrencyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.most = max(server.most, server.in_flight)
            server.cookies.append(self.headers.get("Cookie"))
            server.peers.add(self.client_address[1])
        if self.path != "/login":
            time.sleep(0.3)
        with server.lock:
            server.in_flight -= 1
        body = b"{}"
        self.send_response(200)
        if self.path == "/login":
            self.send_header("Set-Cookie", "sid=abc; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_parallel_requests_overlap_on_the_users_connections(tmp_path: Path) -> None:
    server = _ConcurrencyServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {iterations: 2, users: 1}
            users:
              - on_start:
                  - get: /login
                flows:
                  - steps:
                      - parallel:
                          name: assets
                          steps:
                            - get: /a.js
                            - get: /b.css
                            - get: /c.png
            """,
            f"http://127.0.0.1:{server.server_address[1]}",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr
    assert server.most == 3  # the three requests of the block were in flight together
    assert server.cookies[1:] == ["sid=abc"] * 6  # the pool shares the user's cookie jar
    assert len(server.peers) == 3  # three connections, kept for the second iteration
    assert result is not None
    rows = {(r["name"], r["method"]): r for r in result["requests"]}
    for name in ("/a.js", "/b.css", "/c.png"):
        assert rows[(name, "GET")]["requests"] == 2
    group = rows[("assets", "GROUP")]
    assert group["requests"] == 2 and group["failures"] == 0
    assert 290 <= group["latency_ms"]["max"] < 800  # once 300 ms, not three times
