"""Hook rows and response sizes end to end: `yamlswarm run` against a real server on 127.0.0.1.

A hook times work with `user.measure` and records exchanges with `user.record`; HTTP steps
fetch bodies of known sizes (Content-Length, chunked, gzip, HEAD). The JSON, CSV, JUnit and
HTML outputs show the rows, their sizes and the thresholds on them, locally and merged from
two worker processes, and the server saw exactly the requests reported.
"""

from __future__ import annotations

import csv
import gzip
import json
import xml.etree.ElementTree as ET

import pytest

from tests.cli_helpers import run_json, write_scenario, yamlswarm
from tests.servers import CountingServer

ITERATIONS = 6
CHUNKED = len(b'{"chunked": true, "parts": 3}')  # tests/servers.py's /chunked, de-chunked
GZIPPED = len(gzip.compress(json.dumps({"gzipped": True}).encode()))  # on the wire, compressed

HOOKS = """
import time


def timed(user):
    with user.measure("work") as m:  # kind CUSTOM
        time.sleep(0.002)
        m.size = 7
    user.record("CACHE", "lookup", 0.001, size=3)
    user.record("CACHE", "miss", 0.004, error="not cached")


def fetch(user):
    user.request("GET", "/bytes/10", name="hook bytes")  # its size is counted too
"""

SCENARIO = f"""
version: 1
hooks: hooks.py
load: {{iterations: {ITERATIONS}, users: 2}}
users:
  - flows:
      - steps:
          - get: /bytes/1000
          - get: /chunked
          - get: /gzip
            check: {{jmespath: [{{expr: gzipped, eq: true}}]}}
          - head: /bytes/500
          - call: timed
          - call: fetch
thresholds:
  - "CUSTOM work: p95 < 5s"
  - "CACHE lookup: error_rate < 1%"
  - "CACHE miss: failures == 0"
"""


@pytest.mark.parametrize("extra", [(), ("--processes", "2")], ids=["local", "two-processes"])
def test_hook_rows_and_sizes_in_every_output(tmp_path, extra):
    (tmp_path / "hooks.py").write_text(HOOKS)
    prefix, junit, html = tmp_path / "out", tmp_path / "junit.xml", tmp_path / "report.html"
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            SCENARIO,
            server.url,
            "--csv",
            str(prefix),
            "--junit",
            str(junit),
            "--html",
            str(html),
            *extra,
        )
        paths = ("/bytes/1000", "/chunked", "/gzip", "/bytes/10")
        seen = {path: server.count(path) for path in paths}
    assert run.returncode == 1, run.stdout + run.stderr  # "CACHE miss: failures == 0" fails
    assert result is not None
    assert seen == dict.fromkeys(paths, ITERATIONS)
    rows = {(r["method"], r["name"]): r for r in result["requests"]}
    sizes = {key: (row["requests"], row["size_bytes"]["total"]) for key, row in rows.items()}
    n = ITERATIONS
    assert sizes == {
        ("GET", "/bytes/1000"): (n, n * 1000),  # body not kept (no check): Content-Length
        ("GET", "/chunked"): (n, n * CHUNKED),
        ("GET", "/gzip"): (n, n * GZIPPED),
        ("HEAD", "/bytes/500"): (n, 0),
        ("CUSTOM", "work"): (n, n * 7),
        ("CACHE", "lookup"): (n, n * 3),
        ("CACHE", "miss"): (n, 0),
        ("GET", "hook bytes"): (n, n * 10),
        ("FLOW", "flow1"): (n, 0),  # a transaction row: not added into the totals
    }
    assert rows[("GET", "/bytes/1000")]["size_bytes"]["mean"] == 1000.0
    work = rows[("CUSTOM", "work")]
    assert work["failures"] == 0 and work["latency_ms"]["min"] >= 2.0
    assert work["latency_ms"]["p50"] <= work["latency_ms"]["p95"] <= work["latency_ms"]["max"]
    assert rows[("CACHE", "miss")]["failures"] == n
    assert {(e["name"], e["error"], e["count"]) for e in result["errors"]} == {
        ("miss", "not cached", n)
    }
    assert result["totals"]["requests"] == 8 * n  # hook rows are request rows, in the totals
    total = n * (1000 + CHUNKED + GZIPPED + 7 + 3 + 10)
    assert result["totals"]["size_bytes"]["total"] == total
    assert [(t["expr"], t["passed"]) for t in result["thresholds"]] == [
        ("CUSTOM work: p95 < 5s", True),
        ("CACHE lookup: error_rate < 1%", True),
        ("CACHE miss: failures == 0", False),
    ]
    assert sum(t["rps"] for t in result["timeline"]) > 0

    with open(f"{prefix}_stats.csv", newline="") as handle:
        table = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    assert table[("GET", "/bytes/1000")]["Average Content Size"] == "1000"
    assert table[("CUSTOM", "work")]["Average Content Size"] == "7"
    assert table[("", "Aggregated")]["Average Content Size"] == str(round(total / (8 * n)))
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))  # Aggregated only (no --csv-full-history)
    assert history[-1]["Total Average Content Size"] == str(round(total / (8 * n)))
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["CACHE miss: failures == 0"].find("failure") is not None
    assert cases["CUSTOM work: p95 < 5s"].find("failure") is None
    page = html.read_text()
    assert "CACHE" in page and "lookup" in page


def test_a_scenario_of_hooks_alone_needs_no_host_and_one_with_requests_does(tmp_path):
    (tmp_path / "hooks.py").write_text(HOOKS)
    hooks_only = """
    version: 1
    hooks: hooks.py
    load: {iterations: 2, users: 1}
    users:
      - flows:
          - steps:
              - call: timed
    """
    scenario = write_scenario(tmp_path, hooks_only, "hooks_only.yaml")
    run = yamlswarm("run", scenario, "--json", tmp_path / "r.json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "yamlswarm: running 'hooks_only' (2 iterations" in run.stdout
    assert " against " not in run.stdout
    rows = {(r["method"], r["name"]): r["requests"] for r in run_result(tmp_path / "r.json")}
    assert rows[("CUSTOM", "work")] == rows[("CACHE", "lookup")] == 2

    with_request = hooks_only.replace("- call: timed", "- get: /")
    scenario = write_scenario(tmp_path, with_request, "with_request.yaml")
    run = yamlswarm("run", scenario)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "no host to send requests to: set 'host:' in the scenario or pass --host URL" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr


def run_result(path) -> list[dict]:
    return json.loads(path.read_text())["requests"]
