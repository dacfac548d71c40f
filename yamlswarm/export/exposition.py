"""`GET /metrics`: the live series in Prometheus' text exposition format, for scraping.

`exposition(stats, users, scenario, run_id)` renders the same series as the
remote write (see `export.series`) with the `prometheus-client` library. The
latency gauges cover the requests since the previous call when the caller
passes the same `Sampler` each time (one per web server), and the whole run so
far without one. Counters are exact at any moment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from yamlswarm.errors import UsageError
from yamlswarm.export.sample import Sample, Sampler
from yamlswarm.export.series import Point, metric_name, points

__all__ = ["CONTENT_TYPE", "exposition", "render_points"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_HELP = {
    "yamlswarm_requests_total": "Requests made, by row (exact).",
    "yamlswarm_failures_total": "Failed requests, by row (exact).",
    "yamlswarm_transactions_total": "FLOW and GROUP transactions, by row.",
    "yamlswarm_transaction_failures_total": "Failed FLOW and GROUP transactions, by row.",
    "yamlswarm_latency_ms": "Request latency quantiles (ms) of the latest window.",
    "yamlswarm_transaction_latency_ms": "Transaction latency quantiles (ms) of the latest window.",
    "yamlswarm_users": "Active virtual users.",
}


def exposition(
    stats: Any, users: int, scenario: str, run_id: str, sampler: Sampler | None = None
) -> bytes:
    """The exposition text of the live stats (UTF-8); UsageError without prometheus-client."""
    sample = (sampler or Sampler()).sample(stats, users, time.time(), stats.clock() - stats.started)
    return render_points(sample, scenario, run_id, stats.metrics.descriptions)


def render_points(
    sample: Sample, scenario: str, run_id: str, descriptions: Mapping[str, str] | None = None
) -> bytes:
    """The exposition text of one sample's series; a custom metric's HELP is its declared
    description (`descriptions`, by name) when it has one. UsageError without prometheus-client."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError:
        raise UsageError(
            "GET /metrics needs prometheus-client: pip install 'yamlswarm[prometheus]'"
        ) from None
    # a custom trend is a summary: its quantiles, `_count` and `_sum` are one family
    summaries = {
        metric_name(name): name for name, v in sample.metrics.items() if v.get("kind") == "trend"
    }
    helps = {}
    for name, text in (descriptions or {}).items():
        if text and name in sample.metrics:
            helps[metric_name(name)] = text
    grouped: dict[str, list[Point]] = {}
    for point in points(sample, scenario, run_id):
        name = point[0]
        base = name.rpartition("_")[0] if name.endswith(("_count", "_sum")) else name
        grouped.setdefault(base if base in summaries else name, []).append(point)

    class _Collector:
        def collect(self) -> Iterator[Any]:
            for name, family in grouped.items():
                if name in summaries:
                    doc = helps.get(name) or f"The custom trend {summaries[name]!r}."
                    yield _summary(name, doc, family)
                    continue
                labels = sorted(family[0][1])
                kind = CounterMetricFamily if name.endswith("_total") else GaugeMetricFamily
                doc = _HELP.get(name) or _custom_help(name, family, helps)
                metric = kind(name, doc, labels=labels)
                for _, point_labels, value in family:
                    metric.add_metric([point_labels[k] for k in labels], value)
                yield metric

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return bytes(generate_latest(registry))


def _custom_help(name: str, family: list[Point], helps: Mapping[str, str]) -> str:
    """A custom metric's HELP: its description, or what it is (`a custom counter 'x'`)."""
    labels = family[0][1]
    metric = labels.get("metric")
    if metric is None:
        return "A custom metric of the scenario."
    described = helps.get(metric_name(metric))
    return described or f"The custom {labels.get('kind', 'metric')} {metric!r}."


def _summary(name: str, doc: str, family: list[Point]) -> Any:
    """A summary family from its points (`name{quantile}`, `name_count`, `name_sum`)."""
    from prometheus_client.core import Metric

    metric = Metric(name, doc, "summary")
    for sample_name, labels, value in family:
        metric.add_sample(sample_name, labels, value)
    return metric
