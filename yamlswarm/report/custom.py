"""Custom metrics (a scenario's `metrics:`) as the reports show them: a value and its details.

Each metric is the result's `{kind, ...}` object (counter `{value, rate}`, gauge
`{value, min, max}`, rate `{value, passes, fails}`, trend `{count, mean, min, p50,
p90, p95, p99, max}`). Shared by the HTML report and the live terminal view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yamlswarm.report.table import number

__all__ = ["TREND_KEYS", "metric_details", "metric_value", "scalar_and_trends"]

TREND_KEYS = ("count", "mean", "min", "p50", "p90", "p95", "p99", "max")


def _num(values: Mapping[str, Any], key: str) -> float:
    value = values.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def metric_value(values: Mapping[str, Any]) -> str:
    """The headline: a counter's total, a gauge's last value, a rate's %, a trend's p95."""
    kind = values.get("kind")
    if kind == "rate":
        return f"{number(100.0 * _num(values, 'value'))}%"
    if kind == "trend":
        return f"p95 {number(_num(values, 'p95'))}"
    return number(_num(values, "value"))


def metric_details(values: Mapping[str, Any]) -> str:
    """What else the metric has: `2.5/s`, `min 1 max 9`, `97 passes, 3 fails`, a trend's stats."""
    kind = values.get("kind")
    if kind == "counter":
        return f"{number(_num(values, 'rate'))}/s"
    if kind == "gauge":
        return f"min {number(_num(values, 'min'))} max {number(_num(values, 'max'))}"
    if kind == "rate":
        return f"{int(_num(values, 'passes'))} passes, {int(_num(values, 'fails'))} fails"
    if kind == "trend":
        shown = ("count", "mean", "p50", "p99", "max")
        return " ".join(
            f"{key} {int(_num(values, key)) if key == 'count' else number(_num(values, key))}"
            for key in shown
        )
    return ""


def scalar_and_trends(
    metrics: Mapping[str, Mapping[str, Any]],
) -> tuple[list[tuple[str, Mapping[str, Any]]], list[tuple[str, Mapping[str, Any]]]]:
    """The metrics by name: counters, gauges and rates first, then the trends."""
    ordered = sorted(metrics.items())
    return (
        [(n, v) for n, v in ordered if v.get("kind") != "trend"],
        [(n, v) for n, v in ordered if v.get("kind") == "trend"],
    )
