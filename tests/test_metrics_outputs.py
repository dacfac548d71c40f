"""Custom metrics (`metrics:`) in the outputs, unit by unit: the Prometheus series of each kind
and their exposition, the line protocol, the JSON lines, the CSV rows, the HTML section and the
live view. The real runs of the CLI are in tests/test_metrics_outputs_e2e.py."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from yamlswarm.export.files import JsonLines
from yamlswarm.export.influx import line_protocol
from yamlswarm.export.sample import RowSample, Sample
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
