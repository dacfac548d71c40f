"""Custom metrics (`metrics:`) in the outputs, unit by unit: the Prometheus series of each kind
and their exposition, the line protocol, the JSON lines, the CSV rows, the HTML section and the
live view. The real runs of the CLI are in tests/test_metrics_outputs_e2e.py."""

from __future__ import annotations

import io

from prometheus_client.parser import text_string_to_metric_families

from yamlswarm.export.files import JsonLines
from yamlswarm.export.influx import line_protocol
from yamlswarm.export.sample import RowSample, Sample, Sampler
from yamlswarm.export.series import points

METRICS = {
    "orders_created": {"kind": "counter", "value": 41, "rate": 4.1},
    "cart-items": {"kind": "gauge", "value": 3, "min": 1, "max": 9},
    "checkout_ok": {"kind": "rate", "value": 0.95, "passes": 38, "fails": 2},
    "order_value": {
        "kind": "trend",
        "count": 41,
        "mean": 120.5,
        "min": 10.0,
        "p50": 110.0,
        "p90": 180.0,
        "p95": 190.0,
        "p99": 199.0,
        "max": 200.0,
    },
}


def _sample(metrics=METRICS) -> Sample:
    total = RowSample("Aggregated", "", "request", 0, 0, 0.0, 0.0, 0.0, 0.0, None)
    return Sample(1_700_000_000.0, 10.0, 2, [], total, metrics=metrics)


def _by_name(sample: Sample) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in points(sample, "shop", "r1"):
        out.setdefault(name, []).append((labels, value))
    return out


def test_each_kind_has_its_prometheus_family():
    series = _by_name(_sample())
    base = {"scenario": "shop", "run_id": "r1"}
    assert series["yamlswarm_metric_orders_created_total"] == [
        ({**base, "metric": "orders_created", "kind": "counter"}, 41.0)
    ]
    # a name Prometheus does not allow is made one; the label keeps the declared name
    assert series["yamlswarm_metric_cart_items"] == [
        ({**base, "metric": "cart-items", "kind": "gauge"}, 3.0)
    ]
    rate = {**base, "metric": "checkout_ok", "kind": "rate"}
    assert series["yamlswarm_metric_checkout_ok_passes_total"] == [(rate, 38.0)]
    assert series["yamlswarm_metric_checkout_ok_fails_total"] == [(rate, 2.0)]
    assert series["yamlswarm_metric_checkout_ok_ratio"] == [(rate, 0.95)]
    trend = {**base, "metric": "order_value", "kind": "trend"}
    quantiles = {labels["quantile"]: v for labels, v in series["yamlswarm_metric_order_value"]}
    assert quantiles == {"0.5": 110.0, "0.9": 180.0, "0.95": 190.0, "0.99": 199.0, "1": 200.0}
    assert series["yamlswarm_metric_order_value_count"] == [(trend, 41.0)]
    assert series["yamlswarm_metric_order_value_sum"] == [(trend, 41 * 120.5)]
    assert not [n for n in series if n.startswith("yamlswarm_metric_") and "stat" in n]


def test_a_metric_of_an_unknown_kind_or_without_numbers_sends_nothing():
    metrics = {"odd": {"kind": "histogram", "value": 1}, "empty": {"kind": "counter"}}
    assert not [p for p in points(_sample(metrics), "s", "r") if "metric" in p[1]]


def test_line_protocol_has_a_line_per_metric_with_its_kind():
    lines = [
        line
        for line in line_protocol(_sample(), "shop", "r1").splitlines()
        if line.startswith("yamlswarm_metrics")
    ]
    assert len(lines) == 4
    counter = next(line for line in lines if "metric=orders_created" in line)
    assert counter.startswith("yamlswarm_metrics,kind=counter,metric=orders_created,run_id=r1,")
    assert " rate=4.1,value=41.0 " in counter and counter.endswith(" 1700000000000")
    trend = next(line for line in lines if "metric=order_value" in line)
    assert "p95=190.0" in trend and "count=41.0" in trend


def test_json_lines_have_an_object_per_metric(tmp_path):
    out = JsonLines(tmp_path / "live.jsonl", "shop", "r1")
    objects = [o for o in out.objects(_sample()) if o["type"] == "metric"]
    out.close()
    assert [o["name"] for o in objects] == sorted(METRICS)
    counter = next(o for o in objects if o["name"] == "orders_created")
    assert counter["kind"] == "counter" and counter["values"]["value"] == 41
    assert counter["run_id"] == "r1" and counter["t"] == 10.0


def test_the_exposition_makes_a_counter_a_counter_and_a_trend_a_summary():
    from yamlswarm.export import exposition as module

    text = module.render_points(_sample(), "shop", "r1").decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["yamlswarm_metric_orders_created"].type == "counter"
    assert families["yamlswarm_metric_cart_items"].type == "gauge"
    assert families["yamlswarm_metric_checkout_ok_passes"].type == "counter"
    assert families["yamlswarm_metric_checkout_ok_ratio"].type == "gauge"
    summary = families["yamlswarm_metric_order_value"]
    assert summary.type == "summary"
    names = {s.name for s in summary.samples}
    assert names == {
        "yamlswarm_metric_order_value",
        "yamlswarm_metric_order_value_count",
        "yamlswarm_metric_order_value_sum",
    }


# ------------------------------------------------------------------ windows of a trend


def test_a_trends_quantiles_are_those_of_each_seconds_values():
    from yamlswarm.runtime.stats import Stats

    class Clock:
        now = 100.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    stats = Stats(clock=clock)
    trend = stats.metrics.ensure("order_value", "trend")
    sampler = Sampler()
    for value in (10.0, 20.0, 30.0):
        trend.add(value)
    first = sampler.sample(stats, 1, 1.0, 1.0).metrics["order_value"]
    # the first window holds every value: its numbers are the run's (HDR, 3 digits)
    assert first["window"] == {key: first[key] for key in first["window"]}
    assert first["window"]["count"] == 3 and first["window"]["mean"] == 20.0
    assert abs(first["window"]["p50"] - 20.0) <= 0.02 and first["window"]["max"] == 30.0
    trend.add(500.0)
    second = sampler.sample(stats, 1, 2.0, 2.0).metrics["order_value"]
    assert second["window"]["count"] == 1 and second["window"]["max"] == 500.0
    assert second["count"] == 4 and second["max"] == 500.0  # the run so far
    quiet = sampler.sample(stats, 1, 3.0, 3.0)
    assert quiet.metrics["order_value"]["window"] is None
    series = _by_name(quiet)
    assert "yamlswarm_metric_order_value" not in series  # a gap, not a stale value
    assert series["yamlswarm_metric_order_value_count"][0][1] == 4.0
    lines = line_protocol(sampler.sample(stats, 1, 4.0, 4.0), "s", "r")
    assert "window_" not in lines
    trend.add(7.0)
    lines = line_protocol(sampler.sample(stats, 1, 5.0, 5.0), "s", "r")
    assert "window_count=1.0" in lines and "window_max=7.0" in lines


# ------------------------------------------------------------------ files, HTML, live view


def _result(metrics=METRICS):
    from yamlswarm.result import RunResult

    return RunResult(
        "1.0", "shop", "2025-01-01T00:00:00Z", 10.0, {"kind": "closed"}, metrics=metrics
    )


def test_csv_has_a_row_per_metric_with_the_numbers_of_its_kind(tmp_path):
    import csv

    from yamlswarm.report.files import METRICS_CSV_HEADER, write_csv

    paths = write_csv(_result(), tmp_path / "run")
    assert tmp_path / "run_metrics.csv" in paths
    with open(tmp_path / "run_metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == METRICS_CSV_HEADER
    by_name = {row["Name"]: row for row in rows}
    assert set(by_name) == set(METRICS)
    counter = by_name["orders_created"]
    assert (counter["Kind"], counter["Value"], counter["Rate"]) == ("counter", "41", "4.1")
    assert counter["p95"] == counter["Passes"] == ""
    rate = by_name["checkout_ok"]
    assert (rate["Value"], rate["Passes"], rate["Fails"]) == ("0.95", "38", "2")
    trend = by_name["order_value"]
    assert [trend[k] for k in ("Count", "Mean", "Min", "p50", "p99", "Max")] == [
        "41",
        "120.5",
        "10.0",
        "110.0",
        "199.0",
        "200.0",
    ]
    assert by_name["cart-items"]["Min"] == "1" and by_name["cart-items"]["Max"] == "9"
    # a scenario without custom metrics writes no such file
    assert not any("metrics" in p.name for p in write_csv(_result({}), tmp_path / "none"))


def test_the_html_report_has_a_custom_metrics_section():
    from yamlswarm.report.html import render_html

    page = render_html(_result())
    section = page[page.index("<h2>Custom metrics</h2>") :]
    section = section[: section.index("</section>")]
    assert "orders_created" in section and "<td>41</td>" in section
    assert "checkout_ok" in section and "95%" in section and "38 passes, 2 fails" in section
    trend_row = section[section.index("order_value") :]
    trend_row = trend_row[: trend_row.index("</tr>")]
    cells = [c.split("<")[0] for c in trend_row.split("<td>")[1:]]
    assert cells == ["41", "120", "10", "110", "180", "190", "199", "200"]
    assert "Custom metrics" not in render_html(_result({}))


def test_unset_gauges_and_empty_trends_show_no_data():
    from yamlswarm.report.html import render_html

    metrics = {
        "g": {"kind": "gauge", "value": None, "min": None, "max": None},
        "t": {
            "kind": "trend",
            "count": 0,
            "mean": None,
            "min": None,
            "p50": None,
            "p90": None,
            "p95": None,
            "p99": None,
            "max": None,
        },
        "r": {"kind": "rate", "value": None, "passes": 0, "fails": 0},
    }
    page = render_html(_result(metrics))
    assert "min no data max no data" in page and "<td>no data</td>" in page


def test_the_live_view_shows_the_metrics():
    from yamlswarm.report.live import LiveProgress, LiveView

    view = LiveView(12.0, 60.0, 5, 40.0, 480, 2, 10.0, 20.0, 30.0, metrics=METRICS)
    progress = LiveProgress(io.StringIO(), interactive=True, quiet=False, width=200, height=40)
    lines = progress.dashboard(view)
    (line,) = [line for line in lines if line.startswith("metrics")]
    assert "orders_created 41" in line and "checkout_ok 95%" in line
    assert "order_value mean 120" in line and "cart-items 3" in line
    assert "metrics orders_created 41, cart-items 3" in progress.format(view)
    many = {f"m{i:02}": {"kind": "counter", "value": i, "rate": 0.0} for i in range(20)}
    lines = [
        line
        for line in progress.dashboard(LiveView(1.0, None, 1, 0, 0, 0, 0, 0, 0, metrics=many))
        if line.startswith(" " * 10) or line.startswith("metrics")
    ]
    assert len(lines) == 3 and lines[-1].endswith("(+9 more)")


def test_the_exposition_help_is_the_declared_description():
    from yamlswarm.export.exposition import render_points

    text = render_points(_sample(), "shop", "r1", {"orders_created": "orders the API confirmed"})
    assert "# HELP yamlswarm_metric_orders_created_total orders the API confirmed" in text.decode()
    assert "# HELP yamlswarm_metric_checkout_ok_ratio The custom rate 'checkout_ok'." in (
        text.decode()
    )
