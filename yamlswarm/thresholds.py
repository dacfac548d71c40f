"""Threshold expressions `[ROW:] METRIC OP VALUE`: parsing now, evaluation against results.

`parse_threshold("browse: p99 < 1s")` gives `ParsedThreshold("browse", "p99", "<", 1000.0)`.
Latency metrics (`pNN`, `avg`, `min`, `max`) are those of the successful requests;
`failed.pNN` (`failed.avg`, ...) those of the failed ones. Values:
latency metrics are normalised to milliseconds and `error_rate` to a fraction, so the
code that measures a run compares like with like. `passes()` is the comparison the
result evaluation (a later stage) applies to a measured value.

Custom metrics (`metrics:`) are named by the `metrics` mapping (name -> kind) given to
`parse_threshold`: `orders_created > 100` (a metric's value), `order_value: p95 < 200`
(one number of its JSON shape, see `CUSTOM_STATS`), `checkout_ok > 99%` (a rate, as a
fraction). They parse to ROW = the metric's name and METRIC = the number: a declared
metric's name wins over a request row of the same name. Their values have no unit.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

__all__ = [
    "BUILTIN_METRICS",
    "COUNT_METRICS",
    "CUSTOM_STATS",
    "FAILED_PREFIX",
    "LATENCY_METRICS",
    "ParsedThreshold",
    "parse_threshold",
    "passes",
]

LATENCY_METRICS = frozenset({"avg", "min", "max"})  # plus every pNN
COUNT_METRICS = frozenset({"rps", "requests", "failures", "dropped", "iterations"})
BUILTIN_METRICS = LATENCY_METRICS | COUNT_METRICS | {"error_rate"}  # plus every (failed.)pNN
# The numbers a threshold may name of each kind of custom metric (a trend's pNN too);
# `NAME OP VALUE` alone means its `value` (a trend has none: it names one).
CUSTOM_STATS = {
    "counter": ("value", "rate"),
    "gauge": ("value", "min", "max"),
    "rate": ("value", "passes", "fails"),
    "trend": ("count", "mean", "avg", "min", "max", "p50", "p90", "p95", "p99"),
}
_PERCENTILE = re.compile(r"^p\d+(?:\.\d+)?$")

_GRAMMAR = re.compile(
    r"^\s*(?:(?P<row>.+?)\s*:\s+)?"
    r"(?P<metric>(?:failed\.)?(?:p\d+(?:\.\d+)?|avg|min|max)"
    r"|rps|error_rate|requests|failures|dropped|iterations|[a-z_][a-z0-9_]*)"
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_UNIT_FACTOR = {
    "latency": {None: 1.0, "ms": 1.0, "s": 1000.0},
    "error_rate": {None: 1.0, "%": 0.01},
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class ParsedThreshold(NamedTuple):
    """One threshold: `row` is None for the aggregate; `value` is in the metric's base unit."""

    row: str | None
    metric: str
    op: str
    value: float


FAILED_PREFIX = "failed."  # `failed.p95`: the latency of the failed requests


def is_latency(metric: str) -> bool:
    metric = metric.removeprefix(FAILED_PREFIX)
    return metric in LATENCY_METRICS or metric.startswith("p")


def _family(metric: str) -> str:
    if is_latency(metric):
        return "latency"
    return "error_rate" if metric == "error_rate" else "count"


def is_builtin(metric: str) -> bool:
    """Whether `metric` is one of the request metrics (p95, failed.avg, rps, ...)."""
    base = metric.removeprefix(FAILED_PREFIX)
    if base != metric:  # failed.<latency metric>
        return base in LATENCY_METRICS or bool(_PERCENTILE.match(base))
    return metric in BUILTIN_METRICS or bool(_PERCENTILE.match(metric))


def parse_threshold(text: str, metrics: Mapping[str, str] | None = None) -> ParsedThreshold:
    """Parse one threshold; raises ValueError with a message fit for the user.

    `metrics`: the declared custom metrics, name -> kind (counter, gauge, rate, trend).
    """
    match = _GRAMMAR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"cannot parse threshold {text!r}: expected [ROW:] METRIC OP VALUE, e.g. 'p95 < 500ms'"
        )
    metric, unit, row = match["metric"], match["unit"], match["row"]
    metrics = metrics or {}
    if row in metrics or (row is None and metric in metrics):
        return _custom(text, match, metrics)
    if not is_builtin(metric):
        names = sorted({*BUILTIN_METRICS, "p95", "p99", *metrics})
        close = difflib.get_close_matches(metric, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        declared = f"; custom metrics: {', '.join(sorted(metrics))}" if metrics else ""
        raise ValueError(
            f"cannot parse threshold {text!r}: {metric!r} is no metric{hint}: use p95, avg, "
            f"rps, error_rate, ... or a metric declared under 'metrics:'{declared}"
        )
    base = metric.removeprefix(FAILED_PREFIX)
    if base.startswith("p") and float(base[1:]) > 100:
        raise ValueError(f"{metric!r} is not a percentile: it must be between p0 and p100")
    factors = _UNIT_FACTOR.get(_family(metric), {None: 1.0})
    if unit not in factors:
        raise ValueError(f"{unit!r} does not apply to {metric}")
    return ParsedThreshold(match["row"], metric, match["op"], float(match["value"]) * factors[unit])


def _custom(text: str, match: re.Match[str], metrics: Mapping[str, str]) -> ParsedThreshold:
    """A threshold on a declared custom metric: ROW = its name, METRIC = one of its numbers."""
    row, stat, unit = match["row"], match["metric"], match["unit"]
    if row is None:
        row, stat = stat, "value"
    kind = metrics[row]
    if kind == "trend" and match["row"] is None:
        raise ValueError(
            f"{text!r}: {row!r} is a trend: name one of its numbers, e.g. '{row}: p95 < 200'"
        )
    allowed = CUSTOM_STATS[kind]
    if stat not in allowed and not (kind == "trend" and _PERCENTILE.match(stat)):
        close = difflib.get_close_matches(stat, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{text!r}: a {kind} has no {stat!r}{hint}; it has {', '.join(allowed)}"
            + (" (or any pNN)" if kind == "trend" else "")
        )
    if kind == "trend" and stat.startswith("p") and float(stat[1:]) > 100:
        raise ValueError(f"{stat!r} is not a percentile: it must be between p0 and p100")
    value = float(match["value"])
    if unit == "%" and kind == "rate" and stat == "value":
        value *= 0.01
    elif unit is not None:
        raise ValueError(
            f"{unit!r} does not apply to {row}: a custom metric's values have no unit"
            + (" (a rate's value may be a percentage)" if kind == "rate" else "")
        )
    return ParsedThreshold(row, stat, match["op"], value)


def passes(op: str, measured: float, limit: float) -> bool:
    """Whether a measured value satisfies `measured OP limit` (the evaluation of a threshold)."""
    return _OPS[op](measured, limit)
