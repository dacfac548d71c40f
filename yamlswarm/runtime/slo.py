"""Threshold evaluation on live statistics: at the end of a run, and every second for aborts."""

from __future__ import annotations

from yamlswarm import plan as p
from yamlswarm.result import ThresholdResult
from yamlswarm.runtime.hdr import Dist
from yamlswarm.runtime.stats import Stats
from yamlswarm.thresholds import FAILED_PREFIX, passes


def measure(threshold: p.Threshold, stats: Stats, elapsed_s: float) -> float | None:
    """The measured value of a threshold's metric (None: no data to measure).

    Latency metrics measure the successful requests; `failed.<metric>` the failed ones;
    a custom metric's threshold one number of its JSON shape (`runtime.metrics`).
    """
    metric = threshold.metric
    if threshold.custom:  # `row` is a declared custom metric, `metric` one of its numbers
        return stats.metrics.measure(str(threshold.row), metric, elapsed_s)
    if metric == "dropped":
        return float(stats.dropped)
    if metric == "iterations":
        return float(stats.iterations)
    rows = stats.select(threshold.row)
    if threshold.row is not None and not rows:
        return None  # a row that never ran: fail loudly rather than pass vacuously
    ok, failed, _ = stats.split(rows)
    requests = ok.n + failed.n
    if metric == "requests":
        return float(requests)
    if metric == "failures":
        return float(failed.n)
    if metric == "rps":
        return requests / elapsed_s if elapsed_s > 0 else 0.0
    if metric == "error_rate":
        return failed.n / requests if requests else 0.0
    if metric.startswith(FAILED_PREFIX):
        return _latency(failed, metric[len(FAILED_PREFIX) :])
    return _latency(ok, metric)


def _latency(dist: Dist, metric: str) -> float | None:
    if not dist.n:
        return None
    if metric == "avg":
        return round(dist.sum_us / dist.n / 1000.0, 3)
    if metric == "min":
        return round(dist.min_us / 1000.0, 3)
    if metric == "max":
        return round(dist.max_us / 1000.0, 3)
    return dist.percentile_ms(float(metric[1:]))


def evaluate(threshold: p.Threshold, stats: Stats, elapsed_s: float) -> ThresholdResult:
    value = measure(threshold, stats, elapsed_s)
    passed = value is not None and passes(threshold.op, value, threshold.value)
    shown = None if value is None else round(value, 6)
    return ThresholdResult(threshold.expr, passed, shown)


def first_abort(thresholds: tuple[p.Threshold, ...], stats: Stats, elapsed_s: float) -> str | None:
    """The expression of the first aborting threshold that fails now (after its `after`)."""
    for threshold in thresholds:
        if (
            threshold.abort
            and elapsed_s >= threshold.after
            and not evaluate(threshold, stats, elapsed_s).passed
        ):
            return threshold.expr
    return None
