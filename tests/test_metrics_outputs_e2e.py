"""Custom metrics through every output, in real runs of the CLI against the demo API: a scenario
declares the four kinds and a hook adds to them once per order it places (a request the demo
API counts), and a `metric:` step adds to one of them. The outputs are read where they land:
Debian's real `prometheus` (remote write, PromQL) and `influxd` (InfluxQL), the JSON lines,
CSV, HTML and JUnit files, and, with `--processes 2`, the master's merged export. Each finds
the JSON result's numbers, and the counter equals what the server counted."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tests import test_export_backends as backends
from tests.cli_helpers import write_scenario, yamlswarm
from tests.test_export_backends import _dashboard_panels_have_data, _influxql, _promql, _run_id

prometheus, influxdb = backends.prometheus, backends.influxdb  # the real servers' fixtures

ORDERS = "GET /health"  # the route of each order's request (and of no other): the server's count

SCENARIO = """
version: 1
name: {name}
hooks: orders.py
metrics:
  orders_created: counter
  order_value: trend
  cart_items: gauge
  checkout_ok: rate
  visits: counter
load: {{users: 2, spawn_rate: 20, duration: {duration}}}
users:
  - name: shopper
    wait: {{constant: 50ms}}
    flows:
      - name: buy
        steps:
          - metric: {{name: visits}}
          - call: place_order
thresholds:
  - "orders_created > 0"
  - "checkout_ok > 50%"
  - "order_value: p95 < 1000"
  - "orders_created > 1000000"
"""

HOOKS = '''
def place_order(user):
    """One order: a request the demo API counts, then the custom metrics of it."""
    response = user.request("GET", "/health", name="order")
    ok = response.status == 200
    user.metrics["checkout_ok"].add(ok)
    if ok:
        user.metrics["orders_created"].add(1)
        user.metrics["order_value"].add(10 + 90 * user.rng.random())
        user.metrics["cart_items"].add(user.rng.randint(1, 5))
'''


def _scenario(tmp_path: Path, name: str, duration: str = "4s") -> Path:
    (tmp_path / "orders.py").write_text(HOOKS.lstrip(), encoding="utf-8")
    return write_scenario(tmp_path, SCENARIO.format(name=name, duration=duration))


def _value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def _check_the_json(result: dict, server: dict) -> dict:
    metrics = result["metrics"]
    orders = server["by_route"].get(ORDERS, 0)
    assert orders > 0
    assert metrics["orders_created"]["value"] == orders  # what the server received
    assert metrics["checkout_ok"]["passes"] == orders and metrics["checkout_ok"]["fails"] == 0
    assert metrics["order_value"]["count"] == orders
    # the `metric:` step: once per iteration (those cut short by the end of the run too)
    assert result["iterations"] <= metrics["visits"]["value"] <= result["iterations"] + 2
    assert 1 <= metrics["cart_items"]["min"] <= metrics["cart_items"]["max"] <= 5
    return metrics


def test_prometheus_and_the_files_hold_the_custom_metrics_of_the_json(
    tmp_path, demo_api, prometheus
):
    name = f"metrics-{tmp_path.name}"[:60]
    scenario = _scenario(tmp_path, name)
    out = tmp_path / "out"
    demo_api.reset()
    run = yamlswarm(
        "run", scenario, "-H", demo_api.url, "-q",
        "--json", out / "result.json", "--csv", out / "run", "--html", out / "report.html",
        "--junit", out / "junit.xml",
        "--out", f"prometheus={prometheus}/api/v1/write", "--out", f"jsonl={out / 'live.jsonl'}",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # the last threshold fails, the others pass
    assert "Traceback" not in run.stderr
    result = json.loads((out / "result.json").read_text())
    metrics = _check_the_json(result, demo_api.stats())
    run_id = _run_id(run.stderr)
    sel = f'{{run_id="{run_id}"}}'

    # Prometheus: each kind under its conventional names, equal to the JSON's at the end
    orders = metrics["orders_created"]["value"]
    assert _value(_promql(prometheus, f"yamlswarm_metric_orders_created_total{sel}")) == orders
    ok = metrics["checkout_ok"]
    assert (
        _value(_promql(prometheus, f"yamlswarm_metric_checkout_ok_passes_total{sel}"))
        == ok["passes"]
    )
    assert _value(_promql(prometheus, f"yamlswarm_metric_checkout_ok_fails_total{sel}")) == 0
    assert _value(_promql(prometheus, f"yamlswarm_metric_checkout_ok_ratio{sel}")) == ok["value"]
    gauge = _value(_promql(prometheus, f"yamlswarm_metric_cart_items{sel}"))
    assert gauge == metrics["cart_items"]["value"]
    trend = metrics["order_value"]
    assert _value(_promql(prometheus, f"yamlswarm_metric_order_value_count{sel}")) == trend["count"]
    total = _value(_promql(prometheus, f"yamlswarm_metric_order_value_sum{sel}"))
    assert abs(total - trend["count"] * trend["mean"]) < 0.01 * trend["count"]
    windows = _promql(prometheus, f'yamlswarm_metric_order_value{{run_id="{run_id}"}}[1m]')
    assert {r["metric"]["quantile"] for r in windows} == {"0.5", "0.9", "0.95", "0.99", "1"}
    assert all(r["metric"]["metric"] == "order_value" for r in windows)
    top = next(r for r in windows if r["metric"]["quantile"] == "1")
    # each second's window lies within the run's [min, max]
    assert all(trend["min"] <= float(v) <= trend["max"] for _, v in top["values"])
    _dashboard_panels_have_data(prometheus, name, run_id, custom=True)

    # JSON lines: one object per second and metric; the last ones are the result's
    lines = [json.loads(line) for line in (out / "live.jsonl").read_text().splitlines()]
    last = {o["name"]: o for o in lines if o["type"] == "metric"}
    assert set(last) == set(metrics)
    assert last["orders_created"]["values"]["value"] == orders
    assert last["order_value"]["kind"] == "trend"
    per_second = [o for o in lines if o["type"] == "metric" and o["name"] == "orders_created"]
    assert len(per_second) >= 4  # live, a second at a time, and a last one at the end

    # CSV: a row per metric, the JSON's numbers
    with open(out / "run_metrics.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(metrics)
    assert float(rows["orders_created"]["Value"]) == orders
    assert float(rows["order_value"]["p95"]) == trend["p95"]
    assert int(rows["checkout_ok"]["Passes"]) == ok["passes"]

    # HTML: the section and its numbers
    page = (out / "report.html").read_text()
    assert "<h2>Custom metrics</h2>" in page and f"<td>{orders}</td>" in page

    # JUnit: thresholds on custom metrics are test cases like the others
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    for expr in ("orders_created > 0", "checkout_ok > 50%", "order_value: p95 < 1000"):
        assert cases[expr].find("failure") is None, expr
    failure = cases["orders_created > 1000000"].find("failure")
    assert failure is not None and str(orders) in failure.get("message")


def test_influxdb_holds_the_custom_metrics(tmp_path, demo_api, influxdb):
    scenario = _scenario(tmp_path, "influx-metrics", duration="3s")
    result_path = tmp_path / "result.json"
    demo_api.reset()
    run = yamlswarm(
        "run", scenario, "-H", demo_api.url, "-q", "--json", result_path,
        "--out", f"influxdb={influxdb}?db=loadtests",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "export influxdb" not in run.stderr, run.stderr
    run_id = _run_id(run.stderr)
    metrics = _check_the_json(json.loads(result_path.read_text()), demo_api.stats())
    where = f"FROM yamlswarm_metrics WHERE run_id = '{run_id}'"
    series = _influxql(influxdb, f'SELECT last("value") {where} GROUP BY "metric", "kind"')
    values = {(s["tags"]["metric"], s["tags"]["kind"]): s["values"][0][1] for s in series}
    assert values[("orders_created", "counter")] == metrics["orders_created"]["value"]
    assert values[("cart_items", "gauge")] == metrics["cart_items"]["value"]
    assert values[("checkout_ok", "rate")] == metrics["checkout_ok"]["value"]
    (trend,) = _influxql(
        influxdb,
        f"SELECT last(count), last(p95), max(window_max) {where} AND metric = 'order_value'",
    )
    _, count, p95, window_max = trend["values"][0]
    assert (count, p95) == (metrics["order_value"]["count"], metrics["order_value"]["p95"])
    assert window_max <= metrics["order_value"]["max"]


def test_processes_2_export_the_merged_custom_metrics(tmp_path, demo_api, prometheus):
    scenario = _scenario(tmp_path, f"dist-metrics-{tmp_path.name}"[:60], duration="3s")
    result_path = tmp_path / "result.json"
    demo_api.reset()
    run = yamlswarm(
        "run", scenario, "-H", demo_api.url, "-q", "--processes", "2", "--json", result_path,
        "--out", f"prometheus={prometheus}/api/v1/write",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    run_id = _run_id(run.stderr)
    metrics = _check_the_json(json.loads(result_path.read_text()), demo_api.stats())
    sel = f'{{run_id="{run_id}"}}'
    # the master's merged numbers: both workers' orders, exact
    orders = _value(_promql(prometheus, f"yamlswarm_metric_orders_created_total{sel}"))
    assert orders == metrics["orders_created"]["value"]
    count = _value(_promql(prometheus, f"yamlswarm_metric_order_value_count{sel}"))
    assert count == metrics["order_value"]["count"]
    passes = _value(_promql(prometheus, f"yamlswarm_metric_checkout_ok_passes_total{sel}"))
    assert passes == metrics["checkout_ok"]["passes"]


def test_the_live_terminal_view_shows_the_metrics_as_they_grow(tmp_path, demo_api):
    from tests.test_cli_conventions import _on_a_pty

    scenario = _scenario(tmp_path, "live-metrics", duration="3s")
    demo_api.reset()
    code, text = _on_a_pty(
        ["run", scenario, "-H", demo_api.url, "--json", tmp_path / "r.json"], {"TERM": "xterm"}
    )
    assert code == 1, text  # the threshold meant to fail
    counts = [int(n) for n in re.findall(r"^metrics   .*?orders_created (\d+)", text, flags=re.M)]
    assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] > 0, text
    final = json.loads((tmp_path / "r.json").read_text())["metrics"]
    assert counts[-1] <= final["orders_created"]["value"]
    assert re.search(r"^metrics   .*checkout_ok 100%", text, flags=re.M)
