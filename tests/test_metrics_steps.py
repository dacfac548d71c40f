"""Custom metrics in the compiler and the user loop: declarations, the `metric:` step, a request's
`metrics:` (added after the response, only on success; a rate counts every request), thresholds
on metrics measured from the run's numbers (a real Runner on a fake clock and transport)."""

from __future__ import annotations

import json

import pytest
from compile_helpers import compile_text, problems
from fakes import FakeRun, plan_from_yaml, respond

from yamlswarm import plan as p
from yamlswarm.kinds.metric import MetricStep
from yamlswarm.runtime.slo import evaluate


def _result(run: FakeRun):
    """The run's result with its thresholds evaluated, as `yamlswarm run` makes it."""
    runner = run.run()
    stats, elapsed = runner.stats, runner.elapsed
    thresholds = [evaluate(t, stats, elapsed) for t in runner.plan.thresholds]
    return stats.snapshot(scenario="t", model={}, thresholds=thresholds)


SCENARIO = """
metrics:
  orders: {kind: counter, description: "orders created"}
  value: trend
  ok: rate
  items: gauge
load: {iterations: 10, users: 1}
users:
  - flows:
      - steps:
          - post: /checkout
            check: {status: 201}
            extract:
              total: {jmespath: total}
            metrics:
              value: "{{ total }}"
              orders: 1
              ok: "{{ total > 15 }}"
          - metric: {name: items, add: "{{ iteration }}"}
          - metric: {name: orders, add: "{{ iteration % 2 }}"}
thresholds:
  - "orders > 5"
  - "value: p50 <= 50"
  - "ok >= 50%"
  - "items: max == 10"
  - "value: count == 6"
"""


def _checkout(request):
    """Checkouts 1-6 succeed (201, total = 10 x n), 7-10 are refused (400)."""
    _checkout.calls += 1
    n = _checkout.calls
    if n > 6:
        return respond(request, 400, b'{"error": "empty cart"}')
    return respond(request, 201, json.dumps({"total": 10 * n}).encode())


def test_the_plan_holds_the_declarations_and_the_updates(tmp_path):
    plan = compile_text(tmp_path, SCENARIO)
    assert plan.metrics == (
        p.MetricDecl("orders", "counter", "orders created", plan.metrics[0].source),
        p.MetricDecl("value", "trend", "", plan.metrics[1].source),
        p.MetricDecl("ok", "rate", "", plan.metrics[2].source),
        p.MetricDecl("items", "gauge", "", plan.metrics[3].source),
    )
    assert plan.metrics[0].source.line == 4  # after "version: 1" and a blank line
    request, items, orders = plan.users[0].flows[0].steps
    assert isinstance(orders, MetricStep) and orders.add.name == "orders"
    assert [(a.name, a.kind) for a in request.metrics] == [
        ("value", "trend"),
        ("orders", "counter"),
        ("ok", "rate"),
    ]
    assert request.metrics[1].value == 1  # a constant stays one: nothing to render per request
    assert isinstance(items, MetricStep) and items.add.kind == "gauge"
    customs = [(t.row, t.metric, t.op, t.value) for t in plan.thresholds if t.custom]
    assert customs == [
        ("orders", "value", ">", 5.0),
        ("value", "p50", "<=", 50.0),
        ("ok", "value", ">=", 0.5),
        ("items", "max", "==", 10.0),
        ("value", "count", "==", 6.0),
    ]


def test_request_metrics_are_added_on_success_and_a_rate_counts_every_request(tmp_path):
    _checkout.calls = 0
    plan = plan_from_yaml(tmp_path, SCENARIO)
    result = _result(FakeRun(plan, handler=_checkout))
    metrics = result.metrics
    # 6 successes with totals 10..60; 4 refused checkouts add nothing but the rate's fails
    trend = metrics["value"]
    assert (trend["count"], trend["mean"], trend["min"], trend["max"]) == (6, 35.0, 10.0, 60.0)
    # HDR percentiles: the highest value of the value's bucket (3 significant digits)
    assert trend["p50"] == pytest.approx(30.0, rel=1e-3) and trend["p90"] == pytest.approx(
        50.0, rel=1e-3
    )
    assert trend["p99"] == 60.0  # clamped to the exact max
    # ok: "total > 15" passes for 20..60 (5), fails for 10 (1) and for the 4 failed requests
    assert metrics["ok"] == {"kind": "rate", "value": 0.5, "passes": 5, "fails": 5}
    # 1 per success, plus iteration % 2 from the metric step (iterations 1..10: five odd)
    assert metrics["orders"]["value"] == 6 + 5
    assert metrics["items"] == {"kind": "gauge", "value": 10, "min": 1, "max": 10}
    assert [t.passed for t in result.thresholds] == [True, True, True, True, True]
    assert [t.value for t in result.thresholds] == [11.0, trend["p50"], 0.5, 10.0, 6.0]


def test_a_threshold_on_an_empty_metric_has_no_data_and_fails(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        metrics: {latency: trend, seen: rate}
        load: {iterations: 2, users: 1}
        users:
          - flows:
              - steps:
                  - get: /x
        thresholds:
          - "latency: p95 < 100"
          - "seen > 0%"
        """,
    )
    result = _result(FakeRun(plan))
    assert [(t.passed, t.value) for t in result.thresholds] == [(False, None), (False, None)]


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            "metrics: {orders: counter}\n" + "users:\n  - flows:\n      - steps:\n"
            "          - metric: {name: ordrs}\n",
            "users[0].flows[0].steps[0].metric.name",
            "metric 'ordrs' is not declared (did you mean 'orders'?); declared: orders",
        ),
        (
            "users:\n  - flows:\n      - steps:\n          - metric: {name: orders}\n",
            "users[0].flows[0].steps[0].metric.name",
            "metric 'orders' is not declared: declare it under the top-level 'metrics:'",
        ),
        (
            "metrics: {level: gauge}\n" + "users:\n  - flows:\n      - steps:\n"
            "          - metric: {name: level}\n",
            "users[0].flows[0].steps[0].metric",
            "metric 'level' is a gauge: give the value to 'add'",
        ),
        (
            "metrics: {ok: rate}\n" + "users:\n  - flows:\n      - steps:\n"
            "          - get: /x\n            metrics: {ok: maybe}\n",
            "users[0].flows[0].steps[0].metrics.ok",
            "metric 'ok' (rate): 'maybe' is not a number",
        ),
        (
            "metrics: {ok: rate}\n" + "users:\n  - flows:\n      - steps:\n"
            "          - get: /x\n" + 'thresholds: ["ok > 150%"]\n',
            "thresholds[0]",
            "'ok > 150%' cannot fail or cannot pass: a rate is at most 100% (got 150%)",
        ),
        (
            "metrics: {max: counter}\n" + "users:\n  - flows:\n      - steps:\n"
            "          - get: /x\n",
            "metrics.max",
            "'max' is a built-in threshold metric: give the custom metric another name",
        ),
    ],
)
def test_mistakes_are_located_problems(tmp_path, body, where, message):
    assert (where, message) in problems(tmp_path, body)


def test_a_metric_wins_over_a_request_row_of_the_same_name(tmp_path):
    plan = compile_text(
        tmp_path,
        """
        metrics: {checkout: trend}
        users:
          - flows:
              - steps:
                  - get: /x
                    name: checkout
        thresholds: ["checkout: p95 < 100", "GET checkout: p95 < 100"]
        """,
    )
    assert [t.custom for t in plan.thresholds] == [True, False]
