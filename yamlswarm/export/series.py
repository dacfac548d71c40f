"""The Prometheus series of one sampled second (shared by remote write and `GET /metrics`).

| series | type | labels |
|---|---|---|
| `yamlswarm_requests_total`, `yamlswarm_failures_total` | counter | name, method, scenario, run_id |
| `yamlswarm_transactions_total`, `yamlswarm_transaction_failures_total` | counter | the same (FLOW and GROUP rows) |
| `yamlswarm_latency_ms` | gauge, that second's window | the same + quantile (0.5, 0.9, 0.95, 0.99, 1); also name="Aggregated" |
| `yamlswarm_transaction_latency_ms` | gauge, that second's window | the same as above, for FLOW and GROUP rows |
| `yamlswarm_users` | gauge | scenario, run_id |
| `yamlswarm_metric_<name>` | gauge | scenario, run_id, stat (custom metrics) |

Request counters never include FLOW or GROUP rows, so summing
`yamlswarm_requests_total` over rows gives the result's `totals.requests`. A
new family is one function of `SERIES` (`(sample, base_labels) -> points`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from yamlswarm.export.sample import QUANTILES, RowSample, Sample

__all__ = ["SERIES", "Point", "metric_name", "points"]

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


def custom_metric_points(sample: Sample, base: Labels) -> Iterator[Point]:
    """Custom metrics: one gauge per metric, one point per statistic it reports."""
    for name, stats in sorted(sample.metrics.items()):
        for stat, value in sorted(stats.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield metric_name(name), {**base, "stat": stat}, float(value)


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
