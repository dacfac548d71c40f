"""Custom metrics (a scenario's `metrics:`) as the reports show them: a value and its details.

Each metric is the result's `{kind, ...}` object (`runtime.metrics`: counter `{value,
rate}`, gauge `{value, min, max}`, rate `{value, passes, fails}`, trend `{count, mean,
min, p50, p90, p95, p99, max}`; a gauge never set and a trend without values hold None).
Shared by the HTML report and the live terminal view; the web page does the same in JS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yamlswarm.report.table import number

__all__ = ["TREND_KEYS", "metric_cell", "metric_details", "metric_value", "scalar_and_trends"]

TREND_KEYS = ("count", "mean", "min", "p50", "p90", "p95", "p99", "max")
NO_DATA = "no data"  # as the final table says it

Values = Mapping[str, Any]


def metric_cell(values: Values, key: str) -> str:
    """One number of a metric as shown: counts whole, the rest with 3 significant digits."""
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return NO_DATA
    if key in ("count", "passes", "fails") or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))  # a whole number as one: a counter's 41, not 41.0
    return number(float(value))


def metric_value(values: Values) -> str:
    """The headline, as the final table has it: a counter's total, a gauge's last value, a
    rate's share of passes, a trend's mean."""
    kind = values.get("kind")
    if kind == "rate":
        value = values.get("value")
        return NO_DATA if value is None else f"{float(value) * 100:.4g}%"
    if kind == "trend":
        mean = metric_cell(values, "mean")
        return mean if mean == NO_DATA else f"mean {mean}"
    return metric_cell(values, "value")


def metric_details(values: Values) -> str:
    """What else it has: `4.1/s`, `min 1 max 9`, `38 passes, 2 fails`, a trend's numbers."""
    kind, cell = values.get("kind"), lambda key: metric_cell(values, key)
    if kind == "counter":
        return f"{cell('rate')}/s"
    if kind == "gauge":
        return f"min {cell('min')} max {cell('max')}"
    if kind == "rate":
        return f"{cell('passes')} passes, {cell('fails')} fails"
    if kind == "trend":
        return " ".join(f"{key} {cell(key)}" for key in ("count", "p50", "p95", "p99", "max"))
    return ""


def scalar_and_trends(
    metrics: Mapping[str, Values],
) -> tuple[list[tuple[str, Values]], list[tuple[str, Values]]]:
    """The metrics in declaration order: counters, gauges and rates, then the trends apart."""
    items = list(metrics.items())
    return (
        [(n, v) for n, v in items if v.get("kind") != "trend"],
        [(n, v) for n, v in items if v.get("kind") == "trend"],
    )
