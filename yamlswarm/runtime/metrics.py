"""Custom metrics, k6's four kinds: one registry per process, exact merges, one JSON shape.

The contract (outputs and the hook API build on it; the names here stay):

    registry = MetricsRegistry()           # the run's is `Stats.metrics`, one per process
    registry.declare(plan.metrics)         # every declared metric exists, at 0, from the start
    registry["orders_created"].add(1)      # Counter.add(n=1): n >= 0
    registry["cart_items"].add(3)          # Gauge.add(v): sets the current value, tracks min/max
    registry["checkout_ok"].add(True)      # Rate.add(bool or number): truthy passes, else fails
    registry["order_value"].add(123.4)     # Trend.add(v): an HDR histogram of v >= 0
    registry.snapshot(duration_s)          # -> {name: {...}} at any time, the JSON shape:

        counter  {kind, value, rate}                                # rate: value per second
        gauge    {kind, value, min, max}                            # None until set
        rate     {kind, value, passes, fails}                       # value: passes / total, 0..1
        trend    {kind, count, mean, min, p50, p90, p95, p99, max}  # None while count is 0

    registry.export(reset) / registry.merge(data)   # msgpack-friendly, exact (runtime.stats_wire)
    registry.measure(name, stat)            # one number of the shape, pNN too (thresholds)
    registry.descriptions                   # {name: description} as declared

Trends keep values in thousandths (0.001 .. 3,600,000, whatever the unit: ms, dollars,
items) in the HDR layout of `runtime.hdr` (3 significant digits), with exact count, sum,
min and max; percentiles are clamped to the exact [min, max]. A negative value or one
that is not a number raises `MetricValueError` (a ValueError): a hook that passes one
fails as any hook that raises; the `metric:` step records it as a named error.

A gauge's value is the one set last (by wall-clock time across processes); its export
is not reset by delta reports (merging it twice changes nothing). Every `add` is a few
attribute updates (under 2 µs, benchmarks/micro_metrics.py). This module imports no
gevent, templates or compiler.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from yamlswarm.runtime.hdr import BITS, HALF, HIGHEST_US, MASK, SHIFT, Dist

__all__ = [
    "KINDS",
    "SCALE",
    "Counter",
    "Gauge",
    "Metric",
    "MetricValueError",
    "MetricsRegistry",
    "Rate",
    "Trend",
    "UnknownMetric",
]

KINDS = ("counter", "gauge", "rate", "trend")
SCALE = 1000  # a trend records round(value * SCALE) in the HDR layout
TREND_MAX = HIGHEST_US / SCALE
TREND_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))
_NUMBER = (int, float)


class MetricValueError(ValueError):
    """A value a metric cannot take; `reason` is the short, stable error name
    ("not a number", "negative value") the `metric:` step records it under."""

    def __init__(self, message: str, reason: str = "not a number") -> None:
        super().__init__(message)
        self.reason = reason


class UnknownMetric(KeyError):
    """`user.metrics[NAME]` for a NAME the scenario does not declare; says which it does."""

    def __str__(self) -> str:
        return str(self.args[0])


def _number(metric: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER) or not math.isfinite(value):
        raise MetricValueError(f"metric {metric!r}: {value!r:.60} is not a number")
    return value


class Counter:
    """A sum that only grows: `add(n=1)`."""

    __slots__ = ("description", "name", "value")
    kind = "counter"

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.value: float = 0

    def add(self, n: float = 1, /) -> None:
        if (n.__class__ is not int or n < 0) and _number(self.name, n) < 0:
            raise MetricValueError(
                f"counter {self.name!r} only grows: cannot add {n!r}", "negative value"
            )
        self.value += n

    def stats(self, duration_s: float | None) -> dict[str, Any]:
        rate = round(self.value / duration_s, 3) if duration_s else 0.0
        return {"kind": "counter", "value": _round(self.value), "rate": rate}

    def export(self, reset: bool) -> Any:
        value = self.value
        if reset:
            self.value = 0
        return value

    def merge(self, data: Any) -> None:
        self.value += data

    def clear(self) -> None:
        self.value = 0


class Gauge:
    """The last value set, with the smallest and largest ever set: `add(v)`."""

    __slots__ = ("at", "description", "max", "min", "name", "value")
    kind = "gauge"

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.value: float | None = None
        self.min: float | None = None
        self.max: float | None = None
        self.at = 0.0

    def add(self, value: Any = None, /) -> None:  # no value: 'None is not a number'
        if value.__class__ is not int:  # an int is always fine; a float may be nan or inf
            _number(self.name, value)
        self.value = value
        self.at = time.time()  # the latest set wins when processes merge
        if self.min is None or value < self.min:
            self.min = value
        if self.max is None or value > self.max:
            self.max = value

    def stats(self, duration_s: float | None) -> dict[str, Any]:
        return {"kind": "gauge", "value": self.value, "min": self.min, "max": self.max}

    def export(self, reset: bool) -> Any:
        if self.value is None:
            return None
        return {"value": self.value, "min": self.min, "max": self.max, "at": self.at}

    def merge(self, data: Any) -> None:
        if data is None:
            return
        if self.value is None or data["at"] >= self.at:
            self.value, self.at = data["value"], data["at"]
        self.min = data["min"] if self.min is None else min(self.min, data["min"])
        self.max = data["max"] if self.max is None else max(self.max, data["max"])

    def clear(self) -> None:
        self.value = self.min = self.max = None
        self.at = 0.0


class Rate:
    """The share of true values: `add(bool or number)`, truthy passes, falsy fails."""

    __slots__ = ("description", "fails", "name", "passes")
    kind = "rate"

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.passes = self.fails = 0

    def add(self, value: Any = True, /) -> None:
        if value is True:
            self.passes += 1
        elif value is False:
            self.fails += 1
        else:
            if _number(self.name, value):
                self.passes += 1
            else:
                self.fails += 1

    def stats(self, duration_s: float | None) -> dict[str, Any]:
        total = self.passes + self.fails
        value = round(self.passes / total, 6) if total else None
        return {"kind": "rate", "value": value, "passes": self.passes, "fails": self.fails}

    def export(self, reset: bool) -> Any:
        data = [self.passes, self.fails]
        if reset:
            self.passes = self.fails = 0
        return data

    def merge(self, data: Any) -> None:
        self.passes += data[0]
        self.fails += data[1]

    def clear(self) -> None:
        self.passes = self.fails = 0


class Trend:
    """Values kept in an HDR histogram (thousandths, 3 significant digits): `add(v)`, v >= 0.

    `dist` is the `runtime.hdr.Dist` of the scaled values (`export.sample` diffs its counts
    for the live outputs' per-second windows, as it does for latencies).
    """

    __slots__ = ("description", "dist", "name")
    kind = "trend"

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.dist = Dist()

    def add(self, value: Any = None, /) -> None:  # no value: 'None is not a number'
        cls = value.__class__
        if cls is not float and cls is not int:
            _number(self.name, value)  # raises unless a subclass of int or float
        try:
            scaled = int(value * SCALE + 0.5)
        except (ValueError, OverflowError):  # nan, inf
            _number(self.name, value)
            raise
        if scaled < 0 or scaled > HIGHEST_US:
            if value < 0:
                raise MetricValueError(
                    f"trend {self.name!r} keeps values >= 0, got {value!r}", "negative value"
                )
            scaled = HIGHEST_US  # past the layout's top: counted at the top
        dist = self.dist
        b = (scaled | MASK).bit_length() - BITS  # hdr.index_of, inlined
        dist.counts[((b + 1) << SHIFT) + (scaled >> b) - HALF] += 1
        dist.n += 1
        dist.sum_us += scaled
        if scaled < dist.min_us:
            dist.min_us = scaled
        if scaled > dist.max_us:
            dist.max_us = scaled

    def stats(self, duration_s: float | None) -> dict[str, Any]:
        return _trend_shape(self.dist)

    def percentile(self, q: float) -> float | None:
        return _unscale(self.dist.percentiles_us([q])[0]) if self.dist.n else None

    def export(self, reset: bool) -> Any:
        data = self.dist.export()
        if reset:
            self.dist.clear()
        return data

    def merge(self, data: Any) -> None:
        self.dist.merge(data)

    def clear(self) -> None:
        self.dist.clear()


_P_KEYS = tuple(key for key, _ in TREND_PERCENTILES)
Metric = Counter | Gauge | Rate | Trend
_CLASSES: dict[str, Callable[[str, str], Metric]] = {
    "counter": Counter,
    "gauge": Gauge,
    "rate": Rate,
    "trend": Trend,
}


def _trend_shape(dist: Dist) -> dict[str, Any]:
    """A trend's JSON shape from its (scaled) histogram."""
    out: dict[str, Any] = {"kind": "trend", "count": dist.n}
    if not dist.n:
        return {**out, "mean": None, "min": None, **dict.fromkeys(_P_KEYS), "max": None}
    values = dist.percentiles_us([q for _, q in TREND_PERCENTILES])
    out["mean"] = round(dist.sum_us / dist.n / SCALE, 3)
    out["min"] = _unscale(dist.min_us)
    out.update((key, _unscale(v)) for (key, _), v in zip(TREND_PERCENTILES, values, strict=True))
    out["max"] = _unscale(dist.max_us)
    return out


def _unscale(scaled: int) -> float:
    return round(scaled / SCALE, 3)


def _round(value: float) -> float:
    return value if isinstance(value, int) else round(value, 6)


class MetricsRegistry(Mapping[str, Metric]):
    """The custom metrics of one process (or, merged, of a whole run), read-only by name.

    `registry[name]` for an undeclared name raises `UnknownMetric` (a KeyError) whose
    message lists the declared names, with a did-you-mean.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    # -- declaring ------------------------------------------------------------

    def declare(self, declarations: Iterable[Any]) -> None:
        """Create each declared metric (objects with `name`, `kind`, `description`)."""
        for decl in declarations:
            self.ensure(decl.name, decl.kind, getattr(decl, "description", "") or "")

    def ensure(self, name: str, kind: str, description: str = "") -> Metric:
        """The metric `name`, created with `kind` if new; ValueError if it has another kind."""
        metric = self._metrics.get(name)
        if metric is None:
            if kind not in _CLASSES:
                raise ValueError(f"metric {name!r}: unknown kind {kind!r}")
            metric = self._metrics[name] = _CLASSES[kind](name, description)
        elif metric.kind != kind:
            raise ValueError(f"metric {name!r} is a {metric.kind}, not a {kind}")
        return metric

    # -- the Mapping ----------------------------------------------------------

    def __getitem__(self, name: str) -> Metric:
        try:
            return self._metrics[name]
        except KeyError:
            raise UnknownMetric(self._unknown(name)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def _unknown(self, name: Any) -> str:
        if not self._metrics:
            return f"metric {name!r} is not declared: the scenario declares no metrics (top-level 'metrics:')"
        names = sorted(self._metrics)
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"metric {name!r} is not declared{hint}; declared: {', '.join(names)}"

    # -- reading --------------------------------------------------------------

    @property
    def descriptions(self) -> dict[str, str]:
        return {name: m.description for name, m in self._metrics.items()}

    def snapshot(self, duration_s: float | None = None) -> dict[str, dict[str, Any]]:
        """Every metric in the JSON shape, in declaration order; `duration_s` for counter rates."""
        return {name: m.stats(duration_s) for name, m in self._metrics.items()}

    def measure(self, name: str, stat: str, duration_s: float | None = None) -> float | None:
        """One number of a metric for a threshold: a key of its shape, `avg` (= mean) or a
        trend's `pNN`; None when there is no data (the threshold then fails)."""
        metric = self._metrics.get(name)
        if metric is None:
            return None
        if isinstance(metric, Trend) and stat.startswith("p") and stat not in ("passes",):
            return metric.percentile(float(stat[1:]))
        value = metric.stats(duration_s).get("mean" if stat == "avg" else stat)
        return None if value is None else float(value)

    # -- distributed mode -----------------------------------------------------

    def export(self, reset: bool = False) -> list[list[Any]]:
        """[[name, kind, description, data], ...]; `reset` zeroes counters, rates and trends."""
        return [[n, m.kind, m.description, m.export(reset)] for n, m in self._metrics.items()]

    def merge(self, data: Iterable[list[Any]]) -> None:
        """Add another process's export exactly (ValueError when a kind disagrees)."""
        for name, kind, description, payload in data:
            self.ensure(name, kind, description).merge(payload)

    def clear(self) -> None:
        for metric in self._metrics.values():
            metric.clear()
