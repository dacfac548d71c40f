"""`--out prometheus=URL` and `--out influxdb=URL` against the real servers, started here on
127.0.0.1 free ports: Debian's `prometheus` (remote-write receiver) and `influxd` (1.x).

The CLI runs as a user would against the demo API; the tests query the backends' own HTTP
APIs (PromQL, InfluxQL) during and after the run and find the JSON result's counters there,
equal to what the demo API itself counted. Without a binary the test skips and says why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, cli_env, write_scenario, yamlswarm
from tests.servers import closed_port, free_port, stop_process, wait_until

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"

SCENARIO = """
version: 1
name: {name}
load: {{users: 3, spawn_rate: 30, duration: {duration}}}
users:
  - name: shopper
    flows:
      - name: browse
        steps:
          - get: /health
          - group:
              name: look
              steps:
                - get: /health?from=group
                  name: /health [group]
          - think: 30ms
"""


def _get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture
def prometheus(tmp_path) -> Iterator[str]:
    """A Prometheus with the remote-write receiver on; yields its base URL."""
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {}\n")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            "--web.enable-remote-write-receiver",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--config.file={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200,
            "prometheus",
            process=process,
        )
        yield url
    finally:
        stop_process(process)
        log.close()


def _promql(url: str, query: str) -> list[dict]:
    data = _get_json(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
    assert data["status"] == "success", data
    return data["data"]["result"]


def _run_id(stderr: str) -> str:
    match = re.search(r"run_id (\S+?)\)", stderr)
    assert match, stderr
    return match.group(1)


def test_prometheus_sees_the_run_live_and_its_counters_equal_the_json(
    tmp_path, demo_api, prometheus
):
    name = f"prom-{tmp_path.name}"[:60]
    scenario = write_scenario(tmp_path, SCENARIO.format(name=name, duration="5s"))
    result_path = tmp_path / "result.json"
    demo_api.reset()
    args = ["run", scenario, "-H", demo_api.url, "-q", "--json", result_path]
    args += ["--out", f"prometheus={prometheus}/api/v1/write"]
    process = subprocess.Popen(
        [sys.executable, "-m", "yamlswarm", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    try:
        # during the run: users and request counters arrive while the load goes on
        wait_until(
            lambda: bool(_promql(prometheus, f'yamlswarm_users{{scenario="{name}"}} > 0')),
            "yamlswarm_users during the run",
            timeout=20,
        )
        assert process.poll() is None, "the run ended before Prometheus saw it live"
        live = _promql(prometheus, f'sum(yamlswarm_requests_total{{scenario="{name}"}})')
        assert live and float(live[0]["value"][1]) > 0
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    run_id = _run_id(err)
    result = json.loads(result_path.read_text())
    total = result["totals"]["requests"]
    assert total == demo_api.stats()["requests"] > 0  # what the server received

    selector = f'{{run_id="{run_id}"}}'
    summed = _promql(prometheus, f"sum(yamlswarm_requests_total{selector})")
    assert float(summed[0]["value"][1]) == total  # exact at the end
    rows = {
        (r["metric"]["name"], r["metric"]["method"]): float(r["value"][1])
        for r in _promql(prometheus, f"yamlswarm_requests_total{selector}")
    }
    expected = {(r["name"], r["method"]): r["requests"] for r in result["requests"]}
    assert rows == {k: v for k, v in expected.items() if k[1] == "GET"}
    failures = _promql(prometheus, f"sum(yamlswarm_failures_total{selector})")
    assert float(failures[0]["value"][1]) == result["totals"]["failures"] == 0
    transactions = {
        (r["metric"]["name"], r["metric"]["method"]): float(r["value"][1])
        for r in _promql(prometheus, f"yamlswarm_transactions_total{selector}")
    }
    assert transactions == {k: v for k, v in expected.items() if k[1] in ("FLOW", "GROUP")}
    quantiles = _promql(prometheus, f'yamlswarm_latency_ms{{run_id="{run_id}",name="/health"}}[1m]')
    assert {r["metric"]["quantile"] for r in quantiles} == {"0.5", "0.9", "0.95", "0.99", "1"}
    assert all(float(v) >= 0 for r in quantiles for _, v in r["values"])
    max_series = next(r for r in quantiles if r["metric"]["quantile"] == "1")
    health = next(r for r in result["requests"] if (r["name"], r["method"]) == ("/health", "GET"))
    # each second's max is within the run's: a window never reaches outside [min, max]
    assert max(float(v) for _, v in max_series["values"]) <= health["latency_ms"]["max"]
    assert _promql(prometheus, f'yamlswarm_transaction_latency_ms{{run_id="{run_id}"}}')
    _dashboard_panels_have_data(prometheus, name, run_id)


def _dashboard_panels_have_data(
    prometheus: str, scenario: str, run_id: str, custom: bool = False
) -> None:
    """Every query of the Grafana dashboard (docs/grafana) finds this run's series; those of
    the custom-metrics panels only when the scenario has custom metrics (`custom`)."""
    dashboard = json.loads((REPO / "docs" / "grafana" / "yamlswarm.json").read_text())
    values = {"$scenario": scenario, "$run_id": run_id, "$quantile": "0.95"}
    values["$__rate_interval"] = "1m"
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in values.items():
                expr = expr.replace(variable, value)
            found = _promql(prometheus, expr)
            if panel["title"].startswith("Custom") and not custom:
                assert found == []  # the scenario has none
            else:
                assert found, (panel["title"], expr)


def test_processes_2_export_the_merged_numbers(tmp_path, demo_api, prometheus):
    name = f"dist-{tmp_path.name}"[:60]
    scenario = write_scenario(tmp_path, SCENARIO.format(name=name, duration="3s"))
    result_path = tmp_path / "result.json"
    demo_api.reset()
    run = yamlswarm(
        "run",
        scenario,
        "-H",
        demo_api.url,
        "-q",
        "--processes",
        "2",
        "--json",
        result_path,
        "--out",
        f"prometheus={prometheus}/api/v1/write",
    )
    assert run.returncode == 0, run.stderr
    run_id = _run_id(run.stderr)
    result = json.loads(result_path.read_text())
    total = result["totals"]["requests"]
    assert total == demo_api.stats()["requests"] > 0
    summed = _promql(prometheus, f'sum(yamlswarm_requests_total{{run_id="{run_id}"}})')
    assert float(summed[0]["value"][1]) == total
    users = _promql(prometheus, f'max_over_time(yamlswarm_users{{run_id="{run_id}"}}[5m])')
    assert float(users[0]["value"][1]) == 3  # the users of both workers, merged


def test_a_down_backend_is_reported_once_and_the_run_goes_on(tmp_path, demo_api):
    scenario = write_scenario(tmp_path, SCENARIO.format(name="down", duration="3s"))
    result_path = tmp_path / "result.json"
    port = closed_port()
    demo_api.reset()
    started = time.monotonic()
    run = yamlswarm(
        "run",
        scenario,
        "-H",
        demo_api.url,
        "-q",
        "--json",
        result_path,
        "--out",
        f"prometheus=http://127.0.0.1:{port}/api/v1/write",
    )
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 30
    assert run.stderr.count("export prometheus") == 2, run.stderr  # failed once, gave up once
    assert "failed: cannot reach" in run.stderr and "retrying" in run.stderr
    assert "gave up at the end of the run" in run.stderr
    result = json.loads(result_path.read_text())
    assert result["totals"]["requests"] == demo_api.stats()["requests"] > 0


# ------------------------------------------------------------------ InfluxDB 1.x


@pytest.fixture
def influxdb(tmp_path) -> Iterator[str]:
    """An InfluxDB 1.x on free loopback ports with a database `loadtests`; its base URL."""
    if not Path(INFLUXD).exists():
        pytest.skip("influxd is not installed (Debian: apt-get install influxdb)")
    http_port, rpc_port = free_port(), free_port()
    root = tmp_path / "influx"
    config = tmp_path / "influxdb.conf"
    config.write_text(
        f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[monitor]
  store-enabled = false
"""
    )
    log = (tmp_path / "influxd.log").open("w")
    process = subprocess.Popen(
        [INFLUXD, "run", "-config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/ping", timeout=2).status == 204,
            "influxd",
            process=process,
        )
        _influxql(url, "CREATE DATABASE loadtests", post=True)
        yield url
    finally:
        stop_process(process)
        log.close()


def _influxql(url: str, query: str, post: bool = False) -> list[dict]:
    params = urllib.parse.urlencode({"q": query, "db": "loadtests"})
    if post:
        request = urllib.request.Request(f"{url}/query", data=params.encode(), method="POST")
    else:
        request = urllib.request.Request(f"{url}/query?{params}")
    with urllib.request.urlopen(request, timeout=10) as response:
        data = json.load(response)
    return data["results"][0].get("series", [])


def test_influxdb_holds_the_runs_counters(tmp_path, demo_api, influxdb):
    scenario = write_scenario(tmp_path, SCENARIO.format(name="influx-shop", duration="3s"))
    result_path = tmp_path / "result.json"
    demo_api.reset()
    run = yamlswarm(
        "run",
        scenario,
        "-H",
        demo_api.url,
        "-q",
        "--json",
        result_path,
        "--out",
        f"influxdb={influxdb}?db=loadtests",
    )
    assert run.returncode == 0, run.stderr
    assert "export influxdb" not in run.stderr, run.stderr  # no failure reported
    run_id = _run_id(run.stderr)
    result = json.loads(result_path.read_text())
    series = _influxql(
        influxdb,
        f"SELECT last(requests) FROM yamlswarm_requests WHERE run_id = '{run_id}' GROUP BY \"name\"",
    )
    counted = {s["tags"]["name"]: s["values"][0][1] for s in series}
    expected = {r["name"]: r["requests"] for r in result["requests"] if r["method"] == "GET"}
    assert counted == expected
    assert sum(counted.values()) == result["totals"]["requests"] == demo_api.stats()["requests"]
    where = f"FROM yamlswarm_totals WHERE run_id = '{run_id}'"
    (totals,) = _influxql(influxdb, f"SELECT last(requests) {where}")
    assert totals["values"][0][1] == result["totals"]["requests"]
    (worst,) = _influxql(influxdb, f"SELECT max(p99) {where}")
    assert 0 < worst["values"][0][1] <= result["totals"]["latency_ms"]["max"]
    (users,) = _influxql(
        influxdb, f"SELECT max(\"users\") FROM yamlswarm_users WHERE run_id = '{run_id}'"
    )
    assert users["values"][0][1] == 3
    flows = _influxql(
        influxdb, f"SELECT last(requests) FROM yamlswarm_transactions WHERE run_id = '{run_id}'"
    )
    assert flows and flows[0]["values"][0][1] > 0
