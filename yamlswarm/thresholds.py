"""Threshold expressions `[ROW:] METRIC OP VALUE`: parsing now, evaluation against results.

`parse_threshold("browse: p99 < 1s")` gives `ParsedThreshold("browse", "p99", "<", 1000.0)`.
Latency metrics (`pNN`, `avg`, `min`, `max`) are those of the successful requests;
`failed.pNN` (`failed.avg`, ...) those of the failed ones. Values:
latency metrics are normalised to milliseconds and `error_rate` to a fraction, so the
code that measures a run compares like with like. `passes()` is the comparison the
result evaluation (a later stage) applies to a measured value.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "COUNT_METRICS",
    "FAILED_PREFIX",
    "LATENCY_METRICS",
    "ParsedThreshold",
    "parse_threshold",
    "passes",
]

LATENCY_METRICS = frozenset({"avg", "min", "max"})  # plus every pNN
COUNT_METRICS = frozenset({"rps", "requests", "failures", "dropped", "iterations"})

_GRAMMAR = re.compile(
    r"^\s*(?:(?P<row>.+?)\s*:\s+)?"
    r"(?P<metric>(?:failed\.)?(?:p\d+(?:\.\d+)?|avg|min|max)"
    r"|rps|error_rate|requests|failures|dropped|iterations)"
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


def parse_threshold(text: str) -> ParsedThreshold:
    """Parse one threshold; raises ValueError with a message fit for the user."""
    match = _GRAMMAR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"cannot parse threshold {text!r}: expected [ROW:] METRIC OP VALUE, e.g. 'p95 < 500ms'"
        )
    metric, unit = match["metric"], match["unit"]
    base = metric.removeprefix(FAILED_PREFIX)
    if base.startswith("p") and float(base[1:]) > 100:
        raise ValueError(f"{metric!r} is not a percentile: it must be between p0 and p100")
    factors = _UNIT_FACTOR.get(_family(metric), {None: 1.0})
    if unit not in factors:
        raise ValueError(f"{unit!r} does not apply to {metric}")
    return ParsedThreshold(match["row"], metric, match["op"], float(match["value"]) * factors[unit])


def passes(op: str, measured: float, limit: float) -> bool:
    """Whether a measured value satisfies `measured OP limit` (the evaluation of a threshold)."""
    return _OPS[op](measured, limit)
