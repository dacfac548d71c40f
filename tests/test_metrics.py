"""The custom-metrics registry: the four kinds, the JSON shape, exact merges, errors."""

from __future__ import annotations

import random

import msgpack
import pytest

from yamlswarm.distributed.exports import check_export
from yamlswarm.distributed.messages import ProtocolError
from yamlswarm.plan import MetricDecl
from yamlswarm.runtime.metrics import MetricsRegistry, MetricValueError, UnknownMetric
from yamlswarm.runtime.stats import Stats

DECLARED = (
    MetricDecl("orders_created", "counter", "orders the API confirmed"),
    MetricDecl("cart_items", "gauge"),
    MetricDecl("checkout_ok", "rate"),
    MetricDecl("order_value", "trend", "order totals in dollars"),
)


def _stats() -> Stats:
    stats = Stats()
    stats.metrics.declare(DECLARED)
    return stats


def test_declared_metrics_exist_at_zero_in_the_json_shape():
    assert _stats().metrics.snapshot(10.0) == {
        "orders_created": {"kind": "counter", "value": 0, "rate": 0.0},
        "cart_items": {"kind": "gauge", "value": None, "min": None, "max": None},
        "checkout_ok": {"kind": "rate", "value": None, "passes": 0, "fails": 0},
        "order_value": {
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
    }


def test_each_kind_adds_as_k6_does():
    metrics = _stats().metrics
    metrics["orders_created"].add()
    metrics["orders_created"].add(4)
    for items in (3, 7, 2):
        metrics["cart_items"].add(items)
    for ok in (True, False, 1, 0, True):
        metrics["checkout_ok"].add(ok)
    for value in range(1, 101):
        metrics["order_value"].add(value + 0.25)
    shot = metrics.snapshot(2.0)
    assert shot["orders_created"] == {"kind": "counter", "value": 5, "rate": 2.5}
    assert shot["cart_items"] == {"kind": "gauge", "value": 2, "min": 2, "max": 7}
    assert shot["checkout_ok"] == {"kind": "rate", "value": 0.6, "passes": 3, "fails": 2}
    trend = shot["order_value"]
    assert trend["count"] == 100 and trend["min"] == 1.25 and trend["max"] == 100.25
    assert trend["mean"] == pytest.approx(50.75)
    # 3 significant digits: the percentile's bucket holds the exact value
    assert trend["p50"] == pytest.approx(50.25, rel=1e-3)
    assert trend["p99"] == pytest.approx(99.25, rel=1e-3)
    assert metrics.measure("order_value", "p75") == pytest.approx(75.25, rel=1e-3)
    assert metrics.measure("order_value", "avg") == trend["mean"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("orders_created", -1, "only grows"),
        ("orders_created", "3", "is not a number"),
        ("orders_created", True, "is not a number"),
        ("cart_items", None, "is not a number"),
        ("checkout_ok", "yes", "is not a number"),
        ("order_value", -0.5, "keeps values >= 0"),
        ("order_value", float("nan"), "is not a number"),
        ("order_value", float("inf"), "is not a number"),
        ("cart_items", float("-inf"), "is not a number"),
        ("orders_created", float("nan"), "is not a number"),
    ],
)
def test_bad_values_raise_a_value_error_naming_the_metric(name, value, message):
    metrics = _stats().metrics
    with pytest.raises(MetricValueError, match=message) as info:
        metrics[name].add(value)
    assert name in str(info.value)
    assert metrics.snapshot()[name] == _stats().metrics.snapshot()[name]  # nothing was added


def test_an_undeclared_name_is_a_key_error_with_did_you_mean():
    metrics = _stats().metrics
    with pytest.raises(KeyError) as info:
        metrics["orders_crated"]
    assert isinstance(info.value, UnknownMetric)
    assert str(info.value) == (
        "metric 'orders_crated' is not declared (did you mean 'orders_created'?); "
        "declared: cart_items, checkout_ok, order_value, orders_created"
    )
    with pytest.raises(KeyError, match="declares no metrics"):
        MetricsRegistry()["anything"]
    assert "orders_crated" not in metrics and len(metrics) == 4
    assert not hasattr(metrics, "__setitem__")


def _fill(stats: Stats, rng: random.Random, n: int) -> None:
    metrics = stats.metrics
    for _ in range(n):
        metrics["orders_created"].add(rng.randint(0, 3))
        metrics["checkout_ok"].add(rng.random() < 0.9)
        metrics["order_value"].add(round(rng.uniform(0, 5000), 2))


def test_exports_merge_exactly_through_msgpack_also_as_deltas():
    rng = random.Random(7)
    workers = [_stats() for _ in range(3)]
    alone = _stats()  # every value added into one registry
    master = _stats()
    for round_ in range(3):
        for worker in workers:
            state = rng.getstate()
            _fill(worker, rng, 200)
            rng.setstate(state)
            _fill(alone, rng, 200)
            worker.metrics["cart_items"].add(round_)
            data = msgpack.unpackb(msgpack.packb(worker.export(reset=True)), raw=False)
            check_export(data)
            master.merge(data)
    alone.metrics["cart_items"].add(0)
    alone.metrics["cart_items"].add(2)
    got, want = master.metrics.snapshot(5.0), alone.metrics.snapshot(5.0)
    assert got == want
    assert got["order_value"]["count"] == 1800
    assert workers[0].metrics.snapshot()["orders_created"]["value"] == 0  # reset by the delta


def test_a_merge_of_another_kind_is_refused():
    stats = _stats()
    data = Stats().export()
    data["metrics"] = [["orders_created", "rate", "", [1, 0]]]
    with pytest.raises(ValueError, match="is a counter, not a rate"):
        stats.merge(data)


@pytest.mark.parametrize(
    "metric",
    [
        "orders_created",
        ["x", "counter", "", -1],
        ["x", "counter", "", "3"],
        ["x", "rate", "", [1]],
        ["x", "gauge", "", {"value": 1}],
        ["x", "histogram", "", None],
        ["x", "trend", "", {"n": 1}],
        ["x", "counter", 5, 1],
    ],
)
def test_a_malformed_metric_export_is_a_protocol_error(metric):
    data = Stats().export()
    data["metrics"] = [metric]
    with pytest.raises(ProtocolError, match="metric"):
        check_export(data)
