"""The Prometheus series of one sampled second (shared by remote write and `GET /metrics`).

| series | type | labels |
|---|---|---|
| `yamlswarm_requests_total`, `yamlswarm_failures_total` | counter | name, method, scenario, run_id |
| `yamlswarm_transactions_total`, `yamlswarm_transaction_failures_total` | counter | the same (FLOW and GROUP rows) |
| `yamlswarm_latency_ms` | gauge, that second's window | the same + quantile (0.5, 0.9, 0.95, 0.99, 1); also name="Aggregated" |
| `yamlswarm_transaction_latency_ms` | gauge, that second's window | the same as above, for FLOW and GROUP rows |
| `yamlswarm_users` | gauge | scenario, run_id |
| `yamlswarm_metric_<name>_total` | counter | scenario, run_id, metric, kind (a custom `counter`) |
| `yamlswarm_metric_<name>` | gauge | the same (a custom `gauge`: the value last set) |
| `yamlswarm_metric_<name>_passes_total`, `..._fails_total` | counter | the same (a custom `rate`) |
| `yamlswarm_metric_<name>_ratio` | gauge | the same (a `rate`'s passes / all, 0 .. 1) |
| `yamlswarm_metric_<name>` | summary | the same + quantile (a custom `trend`; `_count`, `_sum`) |

A custom metric's series carry its declared name (`metric`) and `kind`, so two
whose Prometheus names coincide stay apart, and dashboards can select by kind.

Request counters never include FLOW or GROUP rows, so summing
`yamlswarm_requests_total` over rows gives the result's `totals.requests`. A
new family is one function of `SERIES` (`(sample, base_labels) -> points`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from yamlswarm.export.sample import QUANTILES, RowSample, Sample

__all__ = ["METRIC_KINDS", "SERIES", "TREND_QUANTILES", "Point", "metric_name", "points"]

# one point: (series name, labels, value)
Point = tuple[str, dict[str, str], float]
Labels = dict[str, str]

_COUNTERS = {
    "request": ("yamlswarm_requests_total", "yamlswarm_failures_total"),
    "transaction": ("yamlswarm_transactions_total", "yamlswarm_transaction_failures_total"),
}
_LATENCY = {"request": "yamlswarm_latency_ms", "transaction": "yamlswarm_transaction_latency_ms"}
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """`yamlswarm_metric_<name>` with what Prometheus does not allow in a name replaced by `_`."""
    return "yamlswarm_metric_" + _NOT_NAME.sub("_", name)


def _row_labels(row: RowSample, base: Labels) -> Labels:
    return {"name": row.name, "method": row.method, **base}


def counter_points(sample: Sample, base: Labels) -> Iterator[Point]:
    for row in sample.rows:
        requests, failures = _COUNTERS[row.kind]
        labels = _row_labels(row, base)
        yield requests, labels, float(row.requests)
        yield failures, labels, float(row.failures)


def latency_points(sample: Sample, base: Labels) -> Iterator[Point]:
    for row in (*sample.rows, sample.total):
        if row.window is None:
            continue
        labels = _row_labels(row, base)
        for q in QUANTILES:
            yield _LATENCY[row.kind], {**labels, "quantile": f"{q:g}"}, row.window.quantiles[q]


def users_points(sample: Sample, base: Labels) -> Iterator[Point]:
    yield "yamlswarm_users", dict(base), float(sample.users)


def _number(values: dict[str, Any], key: str) -> float | None:
    value = values.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _counter(series: str, values: dict[str, Any], base: Labels) -> Iterator[Point]:
    yield from _present(((f"{series}_total", base, _number(values, "value")),))


def _gauge(series: str, values: dict[str, Any], base: Labels) -> Iterator[Point]:
    # min and max over the run are the result's; in PromQL they are min/max_over_time
    yield from _present(((series, base, _number(values, "value")),))


def _rate(series: str, values: dict[str, Any], base: Labels) -> Iterator[Point]:
    yield from _present(
        (
            (f"{series}_passes_total", base, _number(values, "passes")),
            (f"{series}_fails_total", base, _number(values, "fails")),
            (f"{series}_ratio", base, _number(values, "value")),
        )
    )


def _trend(series: str, values: dict[str, Any], base: Labels) -> Iterator[Point]:
    """A summary: the quantiles of that second's window (none for a second without values)
    or, for a sample without windows, of the run so far; `_count` and `_sum` over the run."""
    window = values.get("window", values)
    if window is not None:
        yield from _present(
            (series, {**base, "quantile": f"{q:g}"}, _number(window, key))
            for q, key in TREND_QUANTILES
        )
    count, mean, total = _number(values, "count"), _number(values, "mean"), _number(values, "sum")
    if total is None and count is not None and mean is not None:
        total = count * mean  # the snapshot's mean is rounded: then the sum is too
    yield from _present(((f"{series}_count", base, count), (f"{series}_sum", base, total)))


def _present(points: Iterable[tuple[str, Labels, float | None]]) -> Iterator[Point]:
    for name, labels, value in points:
        if value is not None:
            yield name, dict(labels), value


# a custom metric's kind -> its points (`metrics:` of a scenario: counter, gauge, rate, trend)
METRIC_KINDS: dict[str, Callable[[str, dict[str, Any], Labels], Iterator[Point]]] = {
    "counter": _counter,
    "gauge": _gauge,
    "rate": _rate,
    "trend": _trend,
}
# a trend's quantile label and the key of the metric's values it reads
TREND_QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99"), (1.0, "max"))


def custom_metric_points(sample: Sample, base: Labels) -> Iterator[Point]:
    """Custom metrics under `yamlswarm_metric_<name>`, each as its kind's family says."""
    for name, values in sorted(sample.metrics.items()):
        kind = str(values.get("kind"))
        family = METRIC_KINDS.get(kind)
        if family is not None:
            yield from family(metric_name(name), values, {**base, "metric": name, "kind": kind})


SERIES: tuple[Callable[[Sample, Labels], Iterator[Point]], ...] = (
    counter_points,
    latency_points,
    users_points,
    custom_metric_points,
)


def points(sample: Sample, scenario: str, run_id: str) -> list[Point]:
    """Every point of one second."""
    base = {"scenario": scenario, "run_id": run_id}
    return [point for family in SERIES for point in family(sample, base)]
