"""Custom metrics end to end: the orders seed (scenarios/orders.yaml) through the CLI against the
demo API, which counts the orders it stored — locally, with --processes 2, and with a master and
two real workers — plus thresholds, aborts and run-time errors on custom metrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import free_port

from tests.cli_helpers import REPO, cli_env, yamlswarm

SEED = REPO / "scenarios" / "orders.yaml"


def _metrics_match_the_server(result: dict, stats: dict) -> int:
    """Every custom metric of the seed equals what the demo API answered; the orders placed."""
    metrics = result["metrics"]
    placed = stats["orders"]["placed"]
    checkouts = stats["by_route"]["POST /api/v1/checkout"]
    assert placed > 0 and checkouts > placed  # some checkouts of an empty cart were refused
    assert metrics["orders_created"] == {
        "kind": "counter",
        "value": placed,
        "rate": metrics["orders_created"]["rate"],
    }
    assert metrics["orders_failed"]["value"] == checkouts - placed == stats["by_status"]["400"]
    assert metrics["checkout_ok"]["passes"] == placed
    assert metrics["checkout_ok"]["fails"] == checkouts - placed
    assert metrics["checkout_ok"]["value"] == pytest.approx(placed / checkouts, abs=1e-6)
    trend = metrics["order_value"]
    assert trend["count"] == placed
    # the sum is exact in thousandths; the mean is rounded to 3 decimals
    assert trend["mean"] * placed == pytest.approx(stats["orders"]["value"], abs=0.001 * placed)
    assert trend["min"] <= trend["p50"] <= trend["p95"] <= trend["max"]
    assert metrics["cart_size"]["kind"] == "gauge" and 1 <= metrics["cart_size"]["min"] <= 3
    return placed


def _run_seed(demo_api, tmp_path: Path, *extra: str, scenario: Path = SEED):
    demo_api.reset()
    out = tmp_path / "result.json"
    run = yamlswarm(
        "run", scenario, "--host", demo_api.url, "--json", out, "-q", "--seed", "5", *extra
    )
    assert out.exists(), run.stdout + run.stderr
    return run, json.loads(out.read_text()), demo_api.stats()


@pytest.mark.parametrize("extra", [(), ("--processes", "2")], ids=["local", "processes"])
def test_the_orders_seed_counts_what_the_server_stored(demo_api, tmp_path, extra):
    # an iteration budget, not a duration: no checkout is cut in flight at the stop, so what
    # the hooks counted and what the server stored are the same requests
    run, result, stats = _run_seed(demo_api, tmp_path, "-u", "4", "--iterations", "60", *extra)
    assert run.returncode == 0, run.stdout + run.stderr
    placed = _metrics_match_the_server(result, stats)
    failed = stats["by_status"]["400"]
    # on_test_stop runs once (on the master with --processes) and sees the merged totals
    assert f"orders hooks: {placed} orders created, {failed} failed" in run.stdout
    assert run.stdout.count("orders hooks:") == 1
    # the final table's own section, and the thresholds in the metrics' own terms
    assert "Metric          Kind" in run.stdout
    assert all(t["passed"] for t in result["thresholds"])
    assert {t["expr"]: t["value"] for t in result["thresholds"]}["orders_created > 0"] == placed


def _cluster(tmp_path: Path, demo_api, scenario: Path, out: Path) -> tuple[int, str, list[int]]:
    port = free_port()
    env = cli_env({"YAMLSWARM_TOKEN": "metrics-test"})

    def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "yamlswarm", *args]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )

    empty = tmp_path / "empty"
    empty.mkdir()
    master = start(
        *("master", str(scenario), "--bind", f"127.0.0.1:{port}", "--expect-workers", "2"),
        *(
            "-H",
            demo_api.url,
            "-u",
            "4",
            "--iterations",
            "60",
            "--seed",
            "5",
            "--json",
            str(out),
            "-q",
        ),
        cwd=REPO,
    )
    workers = [start("worker", "--master", f"127.0.0.1:{port}", cwd=empty) for _ in range(2)]
    try:
        stdout, stderr = master.communicate(timeout=90)
        codes = [w.wait(timeout=30) for w in workers]
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return master.returncode, stdout + stderr, codes


def test_a_master_and_two_workers_merge_the_metrics_exactly(demo_api, tmp_path):
    demo_api.reset()
    out = tmp_path / "result.json"
    code, output, workers = _cluster(tmp_path, demo_api, SEED, out)
    assert code == 0, output
    assert workers == [0, 0]
    assert "on 2 worker(s)" in output
    placed = _metrics_match_the_server(json.loads(out.read_text()), demo_api.stats())
    assert f"orders hooks: {placed} orders created" in output


def _variant(tmp_path: Path, thresholds: str) -> Path:
    """The seed with other thresholds, beside its hooks."""
    text = SEED.read_text().split("\nthresholds:\n")[0] + "\nthresholds:\n" + thresholds
    (tmp_path / "hooks").mkdir(exist_ok=True)
    (tmp_path / "hooks" / "orders.py").write_text((SEED.parent / "hooks" / "orders.py").read_text())
    path = tmp_path / "orders.yaml"
    path.write_text(text)
    return path


def test_thresholds_on_custom_metrics_fail_with_exit_1(demo_api, tmp_path):
    scenario = _variant(
        tmp_path,
        '  - "orders_created > 1000000"\n'
        '  - "order_value: p95 > 1000000"\n'
        '  - "checkout_ok: fails < 0"\n'
        '  - "orders_failed >= 0"\n',
    )
    run, result, stats = _run_seed(demo_api, tmp_path, "-u", "2", "-t", "2s", scenario=scenario)
    assert run.returncode == 1, run.stdout + run.stderr
    got = {t["expr"]: (t["passed"], t["value"]) for t in result["thresholds"]}
    placed = stats["orders"]["placed"]
    assert got["orders_created > 1000000"] == (False, placed)
    assert got["order_value: p95 > 1000000"][0] is False
    assert got["order_value: p95 > 1000000"][1] == result["metrics"]["order_value"]["p95"]
    assert got["checkout_ok: fails < 0"] == (False, stats["by_status"]["400"])
    assert got["orders_failed >= 0"][0] is True
    assert re.search(rf"orders_created > 1000000 +FAIL +{placed}\n", run.stdout), run.stdout


def test_an_aborting_threshold_on_a_custom_metric_stops_the_run(demo_api, tmp_path):
    scenario = _variant(tmp_path, '  - {expr: "orders_created < 5", abort: true}\n')
    started = time.monotonic()
    run, result, stats = _run_seed(demo_api, tmp_path, "-u", "2", "-t", "60s", scenario=scenario)
    assert run.returncode == 1, run.stdout + run.stderr
    assert result["aborted"] and "orders_created < 5" in result["aborted"]
    assert time.monotonic() - started < 30
    assert result["metrics"]["orders_created"]["value"] == stats["orders"]["placed"] >= 5


BAD_VALUES = """\
version: 1
hooks: hooks.py
metrics:
  orders: counter
  order_value: trend
load: {iterations: 6, users: 2}
users:
  - flows:
      - steps:
          - set: {word: one}
          - get: /health
            metrics: {orders: "{{ word }}"}
          - metric: {name: order_value, add: "{{ word }}"}
          - metric: {name: order_value, add: "{{ 0 - iteration }}"}
          - metric: {name: order_value, add: "12.5"}
          - call: typo
"""
HOOKS = """\
def typo(user):
    user.metrics["ordrs"].add(1)
"""


def test_values_that_are_not_numbers_are_counted_named_errors(demo_api, tmp_path):
    (tmp_path / "hooks.py").write_text(HOOKS)
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(BAD_VALUES)
    demo_api.reset()
    out = tmp_path / "result.json"
    run = yamlswarm("run", scenario, "--host", demo_api.url, "--json", out, "-q")
    # no crash: only the hook's own exception is shown (once, as for any hook that raises)
    assert run.stderr.count("Traceback") == 1 and "ordrs" in run.stderr, run.stderr
    assert "MetricValueError" not in run.stderr
    assert run.returncode == 0, run.stdout + run.stderr  # no threshold: failed steps are data
    result = json.loads(out.read_text())
    assert result["iterations"] == 6
    errors = {(e["name"], e["method"], e["error"]): e["count"] for e in result["errors"]}
    assert errors[("metric orders", "METRIC", "not a number")] == 6
    assert errors[("metric order_value", "METRIC", "not a number")] == 6
    assert errors[("metric order_value", "METRIC", "negative value")] == 6
    (hook_error,) = [e for (name, _, e) in errors if name == "typo"]
    assert "metric 'ordrs' is not declared (did you mean 'orders'?)" in hook_error
    # the good values were added; the request itself did not fail
    assert result["metrics"]["order_value"]["count"] == 6
    assert result["metrics"]["order_value"]["min"] == 12.5
    assert result["metrics"]["orders"]["value"] == 0
    health = next(r for r in result["requests"] if r["name"] == "/health")
    assert health["requests"] == 6 and health["failures"] == 0
