"""The web UI's HTTP API as curl uses it, against a real run of the CLI on the demo API:
the start gate, Locust's endpoints, steering seen from the target, downloads, the guard."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from tests.servers import free_port
from tests.web_helpers import Target, WebRun, wait_until


@pytest.fixture(scope="module")
def target():
    server = Target()
    yield server
    server.stop()


@pytest.fixture
def web(tmp_path, target):
    runs: list[WebRun] = []

    def start(*args: str, **kw) -> WebRun:
        run = WebRun(tmp_path, target.url, *args, **kw)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()


def test_waits_for_start_then_swarm_stop_and_the_locust_json(web, target):
    run = web("--autoquit", "0")
    before = target.requests()
    stats = run.json("GET", "/stats/requests")
    assert stats["state"] == "ready" and stats["user_count"] == 0
    assert target.requests() == before  # nothing is sent before Start

    reply = run.json("POST", "/swarm", {"user_count": 3, "spawn_rate": 30, "host": target.url})
    assert reply["success"] is True and reply["user_count"] == 3
    wait_until(lambda: target.requests() >= before + 20)
    stats = wait_until(lambda: _running(run, 3))
    assert stats["state"] == "running"
    names = {(s["method"], s["name"]) for s in stats["stats"]}
    assert {("GET", "/health"), ("GET", "products"), ("", "Aggregated")} <= names
    health = next(s for s in stats["stats"] if s["name"] == "/health")
    for key in (
        "num_requests",
        "num_failures",
        "median_response_time",
        "avg_response_time",
        "min_response_time",
        "max_response_time",
        "current_rps",
    ):
        assert isinstance(health[key], (int, float)), key
    assert health["num_requests"] > 0 and health["num_failures"] == 0
    assert health["avg_content_length"] == len(b"ok")  # the demo's /health answers "ok"
    assert stats["fail_ratio"] == 0.0 and stats["total_rps"] > 0 and stats["errors"] == []

    result = run.json("GET", "/api/result")
    assert result["scenario"] == "webui"
    assert result["totals"]["requests"] >= health["num_requests"]
    assert {"timeline", "thresholds", "requests", "errors"} <= result.keys()

    reply = run.json("GET", "/stop")
    assert reply == {"success": True, "message": "Test stopped"}
    code, out, _ = run.finish()
    assert code == 0, out
    sent = target.requests()
    final = json.loads(run.json_path.read_text())
    assert final["totals"]["requests"] >= result["totals"]["requests"]
    assert "Aggregated" in out
    assert target.requests() == sent  # stopped means stopped


def _running(run: WebRun, users: int):
    stats = run.json("GET", "/stats/requests")
    ready = stats["state"] == "running" and stats["user_count"] == users and stats["total_rps"]
    return stats if ready else None  # total_rps: requests/s of the last closed second


def test_changing_users_changes_the_connections_the_target_sees(web, target):
    run = web("--autoquit", "0")
    run.json("POST", "/swarm", {"user_count": 2, "spawn_rate": 50})
    wait_until(lambda: target.connections() == 2)
    run.json("POST", "/swarm", {"user_count": 6})
    wait_until(lambda: target.connections() == 6)
    assert run.json("GET", "/stats/requests")["user_count"] == 6
    run.json("POST", "/swarm", {"user_count": 1})
    wait_until(lambda: target.connections() == 1)
    run.json("GET", "/stop")
    assert run.finish()[0] == 0
    wait_until(lambda: target.connections() == 0)


def test_duration_counts_from_start_and_autostart(web, target):
    run = web("-t", "2s", "--autoquit", "0")
    wait_until(lambda: run.json("GET", "/stats/requests")["state"] == "ready")
    import time

    time.sleep(2.5)  # longer than -t: a run waiting for Start does not time out
    assert run.process.poll() is None
    run.json("POST", "/swarm", {})
    code, _, _ = run.finish()
    assert code == 0
    assert 1.8 <= json.loads(run.json_path.read_text())["duration_s"] <= 3.5

    auto = web("-t", "1s", "--autostart", "--autoquit", "0")
    assert "press Start" not in auto.stderr_head
    code, _, _ = auto.finish()
    assert code == 0
    assert json.loads(auto.json_path.read_text())["totals"]["requests"] > 0


def test_downloads_of_the_run_so_far_and_reset(web, target):
    run = web("--autoquit", "0")
    assert run.request("GET", "/api/result")[0] == 409  # nothing to report before Start
    run.json("POST", "/swarm", {"user_count": 2, "spawn_rate": 50})
    wait_until(lambda: run.json("GET", "/api/result")["totals"]["requests"] >= 10)

    status, headers, body = run.request("GET", "/api/report.json")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    assert json.loads(body)["totals"]["requests"] >= 10
    status, headers, body = run.request("GET", "/api/report.csv?kind=stats")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert any("/health" in row for row in rows[1:])
    assert run.request("GET", "/api/report.csv?kind=transactions")[0] == 200
    assert run.request("GET", "/api/report.csv?kind=history")[0] == 400  # written live only
    assert run.request("GET", "/api/report.csv?kind=nope")[0] == 400
    status, headers, body = run.request("GET", "/api/report.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<svg" in body and b"http://" not in body.split(b"<body")[0]  # self-contained

    status, _, body = run.request("GET", "/stats/reset")
    assert (status, body) == (200, b"ok")
    after = run.json("GET", "/stats/requests")
    aggregated = after["stats"][-1]
    assert aggregated["name"] == "Aggregated" and aggregated["num_requests"] < 10
    wait_until(lambda: run.json("GET", "/api/result")["totals"]["requests"] > 0)  # counting again
    run.json("GET", "/stop")
    code, out, err = run.finish()
    assert code == 0, out + err


def test_bad_requests_get_clear_messages(web, target):
    run = web("--autoquit", "0")
    cases = [
        ({"user_count": "many"}, "user_count must be a whole number, not 'many'"),
        ({"user_count": "2.5"}, "user_count must be a whole number"),
        ({"user_count": "-1"}, "user_count must be between 0"),
        ({"spawn_rate": "nan"}, "spawn_rate must be between"),
        ({"host": "http://127.0.0.1:1"}, "the host is fixed"),
        ({"rate": "5"}, "rate steers an open model"),
    ]
    for fields, message in cases:
        status, _, body = run.request("POST", "/swarm", fields)
        assert status == 400, (fields, body)
        assert message in json.loads(body)["message"]
    assert run.request("GET", "/nope")[0] == 404
    assert run.request("GET", "/swarm")[0] == 405
    assert run.json("GET", "/stats/requests")["state"] == "ready"  # none of them started it
    run.json("GET", "/stop")  # before Start: the run ends with no load at all
    code, out, err = run.finish()
    assert code == 1 and "no data" in out  # its threshold had nothing to measure
    assert "Traceback" not in out + err


OPEN = """
version: 1
name: open
load:
  arrival: [{duration: 1h, rate: 5}]
  max_users: 50
users:
  - name: visitor
    flows:
      - name: look
        steps:
          - get: /health
"""


def test_an_open_model_is_steered_by_its_arrival_rate(web, target):
    run = web("--autoquit", "0", scenario=OPEN)
    status, _, body = run.request("POST", "/swarm", {"user_count": 5})
    assert status == 400 and "set rate instead" in json.loads(body)["message"]
    run.json("POST", "/swarm", {"rate": "40"})
    wait_until(lambda: run.json("GET", "/api/result")["totals"]["requests"] >= 5)
    import time

    start = target.requests()
    time.sleep(2.0)
    rate = (target.requests() - start) / 2.0
    assert 15 <= rate <= 60, rate  # 40/s asked; a busy machine may lag a little
    run.json("POST", "/swarm", {"rate": "0"})
    time.sleep(0.5)
    paused = target.requests()
    time.sleep(1.0)
    assert target.requests() == paused
    run.json("GET", "/stop")
    assert run.finish()[0] == 0


# ----------------------------------------------------------------------------- the guard


def test_cross_origin_browser_requests_are_refused(web, target):
    run = web("--autoquit", "0")
    before = target.requests()
    refused = [
        ("POST", "/swarm", {"user_count": 5}, {"Origin": "http://evil.example"}),
        ("POST", "/swarm", {"user_count": 5}, {"Origin": "null"}),
        ("GET", "/stop", None, {"Sec-Fetch-Site": "cross-site"}),
        ("GET", "/stats/reset", None, {"Sec-Fetch-Site": "same-site"}),
        ("GET", "/stats/requests", None, {"Host": "evil.example:80"}),  # DNS rebinding
    ]
    for method, path, fields, headers in refused:
        status, _, body = run.request(method, path, fields, headers=headers)
        assert status == 403, (path, headers, body)
    assert run.json("GET", "/stats/requests")["state"] == "ready"
    assert target.requests() == before
    own = {"Origin": run.base, "Sec-Fetch-Site": "same-origin"}
    assert run.json("POST", "/swarm", {"user_count": 1}, headers=own)["success"]
    run.json("GET", "/stop")
    assert run.finish()[0] == 0


def test_a_token_is_required_when_one_is_given(web, target):
    run = web("--token", "s3cret", "--autoquit", "0")
    assert run.request("GET", "/")[0] == 200  # the page itself asks for the token
    assert run.json("GET", "/api/info") == {"token_required": True}
    for path in ("/stats/requests", "/api/result", "/events", "/stop"):
        assert run.request("GET", path)[0] == 401, path
    assert run.request("GET", "/stop", headers={"Authorization": "Bearer wrong"})[0] == 401
    good = {"Authorization": "Bearer s3cret"}
    assert run.json("GET", "/stats/requests", headers=good)["state"] == "ready"
    assert run.json("GET", "/stats/requests", headers={"X-Yamlswarm-Token": "s3cret"})
    assert run.json("GET", "/stop", headers=good)["success"]
    assert run.finish()[0] == 1  # stopped before Start: its threshold had no data


def test_beyond_loopback_without_a_token_is_refused(tmp_path, target):
    scenario = write_scenario(tmp_path, "version: 1\n" + _body())
    port = free_port()
    result = yamlswarm(
        "run",
        scenario,
        "--host",
        target.url,
        "--web",
        f"0.0.0.0:{port}",
        env={"YAMLSWARM_TOKEN": ""},
    )
    assert result.returncode == 2
    assert "refusing to serve the web UI on 0.0.0.0 without a token" in result.stderr
    assert "Traceback" not in result.stderr


def _body() -> str:
    return (
        "load: {users: 1, duration: 1s}\nusers:\n  - name: u\n    flows:\n"
        "      - name: f\n        steps:\n          - get: /health\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--autostart"], 2, "--autostart applies only with --web"),
        (["--autoquit", "1s"], 2, "--autoquit applies only with --web"),
        (["--web", "nonsense"], 2, "is not HOST:PORT"),
        (["--trace", "--web"], 2, "cannot be combined with --web"),
        (["--web", "127.0.0.1:70000"], 2, "is not HOST:PORT"),
    ],
)
def test_web_options_are_checked(tmp_path, target, args, code, message):
    scenario = write_scenario(tmp_path, "version: 1\n" + _body())
    result = yamlswarm("run", scenario, "--host", target.url, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_a_start_error(tmp_path, target):
    import socket

    scenario = write_scenario(tmp_path, "version: 1\n" + _body())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = yamlswarm("run", scenario, "--host", target.url, "--web", f"127.0.0.1:{port}")
    assert result.returncode == 3, result.stderr
    assert f"cannot serve the web UI on 127.0.0.1:{port}" in result.stderr


def test_browsers_that_do_not_read_or_go_away_do_not_hold_the_run(web, target):
    import socket
    import time

    run = web("--autoquit", "0")
    run.json("POST", "/swarm", {"user_count": 2, "spawn_rate": 50})
    stalled = []
    for _ in range(3):  # connect, ask for the stream, never read a byte
        sock = socket.create_connection(("127.0.0.1", run.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{run.port}\r\n\r\n".encode())
        stalled.append(sock)
    wait_until(lambda: run.json("GET", "/api/state")["browsers"] == 3)
    start, begun = target.requests(), time.monotonic()
    time.sleep(3)
    rate = (target.requests() - start) / (time.monotonic() - begun)
    assert rate > 10  # 2 users, 2 requests every ~100 ms each: the load goes on
    began = time.monotonic()
    assert run.json("GET", "/stats/requests")["state"] == "running"
    assert time.monotonic() - began < 1.0  # and the UI still answers at once
    generator = run.json("GET", "/api/state")["generator"]  # runtime.health's last second
    assert generator["cpu_pct"] > 0 and generator["loop_lag_ms"] >= 0
    for sock in stalled:
        sock.close()
    wait_until(lambda: run.json("GET", "/api/state")["browsers"] == 0, timeout=10)
    run.json("GET", "/stop")
    assert run.finish()[0] == 0


def test_without_autoquit_the_page_stays_up_until_ctrl_c(web, target):
    import signal

    run = web("-t", "1s", "--autostart")
    assert run.process.stderr is not None
    line = wait_until(lambda: run.process.stderr.readline(), timeout=20)
    while "stays on" not in line:
        line = run.process.stderr.readline()
        assert line, "the run ended without saying the page stays up"
    assert run.json("GET", "/stats/requests")["state"] == "stopped"  # the final numbers
    assert run.json("GET", "/api/result")["totals"]["requests"] > 0
    run.process.send_signal(signal.SIGINT)
    code, out, _ = run.finish()
    assert code == 0 and "Aggregated" in out  # the run's own exit code, not 130


def test_metrics_serves_the_exposition_format_with_exact_counters(web, target):
    pytest.importorskip("prometheus_client", reason="GET /metrics needs prometheus-client")
    run = web("--autoquit", "30")  # the page stays up after Stop: scrape the final numbers
    status, headers, body = run.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = target.requests()
    run.json("POST", "/swarm", {"user_count": 2, "spawn_rate": 50})
    wait_until(lambda: run.json("GET", "/api/result")["totals"]["requests"] >= 10)
    run.json("GET", "/stop")
    wait_until(lambda: run.json("GET", "/stats/requests")["state"] == "stopped")
    status, _, body = run.request("GET", "/metrics")
    assert status == 200
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("yamlswarm_requests_total{")
    )
    assert total == target.requests() - before  # what the target counted, exactly
    assert "yamlswarm_users" in body.decode()
