"""Workload models and SLOs end to end: open model, drops, coordinated omission, thresholds, JUnit."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

from tests.cli_helpers import run_json
from tests.servers import CountingServer, FaultServer


def test_open_model_starts_rate_times_duration_iterations(tmp_path):
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load:
              arrival: [{duration: 3s, rate: 40/s}]
              max_users: 50
            users:
              - flows:
                  - steps:
                      - get: /echo
        """,
            server.url,
        )
        counted = server.count("/echo")
    assert run.returncode == 0, run.stderr
    assert counted >= 120 * 0.98  # started on schedule, within 2 %
    assert counted + result["dropped"] == 120  # and every arrival is accounted for
    assert result["model"]["kind"] == "open"
    assert result["totals"]["requests"] == counted


def test_capped_open_model_counts_every_drop(tmp_path):
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load:
              arrival: [{duration: 2s, rate: 100/s}]
              max_users: 2
            users:
              - flows:
                  - steps:
                      - get: /slow/50
        """,
            server.url,
        )
        started = server.count("/slow/50")
    assert run.returncode == 0, run.stderr
    assert result["dropped"] > 0
    assert started + result["dropped"] == 200  # every arrival either ran or was counted
    assert "dropped" in run.stdout


def _freeze_after(server: FaultServer, requests: int, seconds: float) -> None:
    deadline = time.monotonic() + 30
    while server.requests < requests and time.monotonic() < deadline:
        time.sleep(0.005)
    server.freeze(seconds)


def test_a_server_freeze_shows_in_p99_and_max(tmp_path):
    """No coordinated omission: latency counts from when each iteration was due."""
    with FaultServer("freeze") as server:
        # a second into the load (20 requests seen), not a second after the process started:
        # on a busy machine the start-up alone can outlast a fixed timer
        threading.Thread(target=_freeze_after, args=(server, 20, 1.0), daemon=True).start()
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load:
              arrival: [{duration: 4s, rate: 20/s}]
              max_users: 100
            users:
              - flows:
                  - steps:
                      - get: /
        """,
            server.url,
        )
    assert run.returncode == 0, run.stderr
    latency = result["totals"]["latency_ms"]
    assert latency["max"] >= 900, latency
    assert latency["p99"] >= 800, latency
    assert latency["p50"] < 100, latency
    assert "service_ms" in result["totals"]


def test_stages_timeline_follows_the_stages(tmp_path):
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load:
              stages:
                - {duration: 2s, users: 4}
                - {duration: 1s, users: 4}
                - {duration: 2s, users: 0}
            users:
              - wait: {constant: 50ms}
                flows:
                  - steps:
                      - get: /echo
        """,
            server.url,
        )
    assert run.returncode == 0, run.stderr
    users = [row["users"] for row in result["timeline"]]
    assert max(users) == 4
    peak = users.index(4)
    assert users[0] < 4 and users[-1] < 4 and peak > 0


THRESHOLDS = """
version: 1
load: {iterations: 20, users: 2}
users:
  - flows:
      - name: read
        steps:
          - get: /echo
            check: {status: 200, max_latency: 2s}
          - get: /status/500
            check: {status: 500}
thresholds:
  - "p95 < {limit}"
  - "error_rate < 1%"
  - "read: p99 < 5s"
  - "/echo: requests == 20"
"""


def test_passing_thresholds_exit_0_and_failing_ones_exit_1(tmp_path):
    with CountingServer() as server:
        passing, result = run_json(tmp_path, THRESHOLDS.replace("{limit}", "2s"), server.url)
        assert passing.returncode == 0, passing.stderr
        assert all(t["passed"] for t in result["thresholds"]) and len(result["thresholds"]) == 4
        failing, result = run_json(
            tmp_path,
            THRESHOLDS.replace("{limit}", "0.001ms"),
            server.url,
            "--junit",
            tmp_path / "junit.xml",
        )
    assert failing.returncode == 1, failing.stderr
    failed = [t for t in result["thresholds"] if not t["passed"]]
    assert [t["expr"] for t in failed] == ["p95 < 0.001ms"]
    assert failed[0]["value"] > 0
    assert "FAIL" in failing.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    names = [c.get("name") for c in cases]
    assert any("p95" in n for n in names) and any("status 200" in n for n in names)
    assert len([c for c in cases if c.find("failure") is not None]) == 1


def test_an_aborting_threshold_ends_a_long_run_early(tmp_path):
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {users: 2, spawn_rate: 10, duration: 40s}
            users:
              - wait: {constant: 20ms}
                flows:
                  - steps:
                      - get: /status/500
            thresholds:
              - {expr: "error_rate < 1%", abort: true, after: 1s}
        """,
            server.url,
        )
        took = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert took < 15
    assert result["aborted"] == "error_rate < 1%"
    assert result["duration_s"] < 6
