"""One second of a run as the live exports see it: per-row counters and latency windows.

`Sampler.sample(stats, users, wall)` runs once a second, right after the
statistics closed their second. Counters are the rows' exact cumulative counts.
A row's latency *window* (the requests of that second alone) comes from the
difference between its cumulative sparse HDR counts (of successful requests) now
and at the previous sample, so the hot path (`RowStats.success`) is not touched:
the cost is paid once a second, for the rows that had requests, over the buckets
they hit. Counters count every request, failed or not. Nothing here imports gevent.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter
from typing import Any

from hdrh.histogram import HdrHistogram

from yamlswarm.report.files import LOCUST_QUANTILES
from yamlswarm.runtime.hdr import DIGITS, HIGHEST_US, LOWEST_US, ms
from yamlswarm.runtime.stats import STEP_METHODS
from yamlswarm.runtime.stats_results import TRANSACTION_METHODS

__all__ = ["QUANTILES", "RowSample", "Sample", "Sampler", "Window", "row_kind", "sample_of_result"]

# The latency quantiles of every window (`yamlswarm_latency_ms{quantile=...}`); 1 is the max.
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99, 1.0)
_ALL_QUANTILES = tuple(sorted(set(QUANTILES) | set(LOCUST_QUANTILES)))
# a custom trend's window: quantile -> its key (as in the trend's own numbers)
TREND_WINDOW_KEYS = ((0.5, "p50"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99"), (1.0, "max"))
_LAYOUT = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def row_kind(method: str) -> str | None:
    """ "request", "transaction" (FLOW, GROUP), or None for other step rows (CALL, SET, ...)."""
    if method in TRANSACTION_METHODS:
        return "transaction"
    if method in STEP_METHODS:
        return None
    return "request"


@dataclass(frozen=True, slots=True)
class Window:
    """The requests of one row (or of all request rows) in one second; latencies in ms."""

    requests: int
    failures: int
    mean: float
    quantiles: dict[float, float]  # quantile (0.5 .. 1.0) -> ms


@dataclass(frozen=True, slots=True)
class RowSample:
    """A row at the end of a second: exact cumulative counts and that second's window."""

    name: str
    method: str
    kind: str  # "request" or "transaction"
    requests: int
    failures: int
    mean: float  # ms over the whole run so far
    min: float
    max: float
    median: float
    window: Window | None  # None: no request of this row in that second
    size_bytes: int = 0  # response body bytes so far (the CSV history's content size)


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything the exports send for one second."""

    wall: float  # epoch seconds
    elapsed: float  # seconds since the start of the run
    users: int
    rows: list[RowSample]
    total: RowSample  # all request rows merged ("Aggregated")
    interval: float = 1.0  # seconds since the previous sample (what the windows span)
    final: bool = False  # the last sample, taken when the run has ended
    # custom metrics (`metrics:` of a scenario) as name -> {kind, value...}; empty when none
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Prev:
    """A row's cumulative (sparse) counts and tallies at the previous sample."""

    __slots__ = ("counts", "failures", "n", "sum_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = self.failures = self.sum_us = 0


# A window is a sparse histogram: the bucket indexes that had requests in it (ascending)
# and their counts.
Sparse = tuple[list[int], list[int]]


class Sampler:
    """Turns the live Stats into a `Sample` once a second (keeps each row's previous counts).

    `medians`: also compute each row's median over the whole run so far (the CSV
    history's "Total Median Response Time"; it costs a pass over the row's counts).
    """

    def __init__(self, medians: bool = False) -> None:
        self._prev: dict[tuple[str, str], _Prev] = {}
        self._trends: dict[str, _Prev] = {}  # each custom trend's counts at the previous sample
        self._medians = medians
        self._elapsed = 0.0

    def sample(
        self, stats: Any, users: int, wall: float, elapsed: float, *, final: bool = False
    ) -> Sample:
        rows: list[RowSample] = []
        total = _Merged()
        for key in sorted(stats.rows):
            row = stats.rows[key]
            kind = row_kind(row.method)
            if kind is None or not row.requests:
                continue
            window, part = self._window(key, row)
            median = row.lat.percentile_ms(50.0) if self._medians else 0.0
            rows.append(_row_sample(row, kind, window, median))
            if kind == "request":
                total.add(row, window, part)
        median = stats.aggregate()[0].percentile_ms(50.0) if self._medians and rows else 0.0
        interval = elapsed - self._elapsed if elapsed > self._elapsed else 1.0
        self._elapsed = elapsed
        return Sample(
            wall,
            elapsed,
            users,
            rows,
            total.sample(median),
            interval=interval,
            final=final,
            metrics=self._metrics(stats, elapsed),
        )

    @staticmethod
    def metrics(stats: Any, elapsed: float | None = None) -> dict[str, dict[str, Any]]:
        """Custom metrics (a scenario's `metrics:`) now, as the result's `metrics` has them:
        name -> {kind, value, ...} (`runtime.metrics`); empty when the scenario declares none.
        `elapsed` (seconds) gives counters their rate."""
        registry = getattr(stats, "metrics", None)
        return registry.snapshot(elapsed) if registry else {}

    def _metrics(self, stats: Any, elapsed: float) -> dict[str, dict[str, Any]]:
        """The custom metrics, each trend with its `window`: that second's values (count,
        mean, p50 .. p99, max), or None when none was added in it; the one place every
        live output reads custom metrics from."""
        out = self.metrics(stats, elapsed)
        for name, values in out.items():
            if values.get("kind") == "trend":
                dist = stats.metrics[name].dist
                values["window"] = self._trend_window(name, dist)
        return out

    def _trend_window(self, name: str, dist: Any) -> dict[str, Any] | None:
        """A trend's values since the previous sample, from the diff of its HDR counts (its
        values are kept in thousandths, so `ms` unscales them)."""
        prev = self._trends.get(name)
        if prev is None or dist.n < prev.n:  # new, or cleared (/stats/reset)
            prev = self._trends[name] = _Prev()
        n = dist.n - prev.n
        if not n:
            return None
        old = prev.counts
        changed = sorted(
            (i, c - old.get(i, 0)) for i, c in dist.counts.items() if c != old.get(i, 0)
        )
        sparse = ([i for i, _ in changed], [c for _, c in changed])
        quantiles = _quantiles(sparse, n, dist.min_us, dist.max_us)
        window = {"count": n, "mean": ms((dist.sum_us - prev.sum_us) / n)}
        window.update((key, quantiles[q]) for q, key in TREND_WINDOW_KEYS)
        prev.counts, prev.n, prev.sum_us = dict(dist.counts), dist.n, dist.sum_us
        return window

    def _window(self, key: tuple[str, str], row: Any) -> tuple[Window | None, Sparse | None]:
        """The row's window since the previous sample (its successful requests' latency and
        the failures of that second), and the sparse counts of those latencies."""
        lat = row.lat  # the successful requests (failures have their own histogram)
        prev = self._prev.get(key)
        if prev is None or lat.n < prev.n:  # new, or the stats were reset (/stats/reset)
            prev = self._prev[key] = _Prev()
        n, failures = lat.n - prev.n, row.failures - prev.failures
        if not n:
            prev.failures = row.failures
            return None, None
        old = prev.counts
        changed = sorted(
            (i, c - old.get(i, 0)) for i, c in lat.counts.items() if c != old.get(i, 0)
        )
        sparse = ([i for i, _ in changed], [c for _, c in changed])
        window = Window(
            n,
            failures,
            ms((lat.sum_us - prev.sum_us) / n),
            _quantiles(sparse, n, lat.min_us, lat.max_us),
        )
        prev.counts, prev.n = dict(lat.counts), lat.n
        prev.failures, prev.sum_us = row.failures, lat.sum_us
        return window, sparse


def _quantiles(sparse: Sparse, n: int, min_us: int, max_us: int) -> dict[float, float]:
    """Quantiles (highest equivalent value of their bucket) of a sparse histogram."""
    indexes, counts = sparse
    cum = list(accumulate(counts))
    out = {}
    for q in _ALL_QUANTILES:
        target = max(1, int(q * n + 0.5))
        j = min(bisect_left(cum, target), len(cum) - 1)
        value = _LAYOUT.get_highest_equivalent_value(_LAYOUT.get_value_from_index(indexes[j]))
        out[q] = ms(min(max(value, min_us), max_us))
    return out


class _Merged:
    """The request rows of one second merged: cumulative totals and the merged window."""

    def __init__(self) -> None:
        self.requests = self.failures = self.ok = self.sum_us = 0
        self.min_us, self.max_us = HIGHEST_US + 1, 0
        self.indexes: list[int] = []
        self.counts: list[int] = []
        self.win_n = self.win_failures = 0
        self.win_sum_ms = 0.0
        self.size_bytes = 0

    def add(self, row: Any, window: Window | None, sparse: Sparse | None) -> None:
        lat = row.lat
        self.size_bytes += row.size_bytes
        self.requests += row.requests
        self.failures += row.failures
        self.ok += lat.n
        self.sum_us += lat.sum_us
        if lat.n:
            self.min_us = min(self.min_us, lat.min_us)
            self.max_us = max(self.max_us, lat.max_us)
        if window is not None and sparse is not None:
            self.indexes += sparse[0]
            self.counts += sparse[1]
            self.win_n += window.requests
            self.win_failures += window.failures
            self.win_sum_ms += window.mean * window.requests

    def sample(self, median: float) -> RowSample:
        return RowSample(
            "Aggregated",
            "",
            "request",
            self.requests,
            self.failures,
            ms(self.sum_us / self.ok) if self.ok else 0.0,
            ms(self.min_us) if self.ok else 0.0,
            ms(self.max_us),
            median,
            self._window(),
            self.size_bytes,
        )

    def _window(self) -> Window | None:
        n = self.win_n
        if not n:
            return None
        # the rows' sparse histograms, ordered by index (an index may repeat: cumulative
        # counts over them are the merged histogram's all the same)
        order = sorted(range(len(self.indexes)), key=self.indexes.__getitem__)
        pick = itemgetter(*order) if len(order) > 1 else (lambda seq: [seq[order[0]]])
        sparse = (list(pick(self.indexes)), list(pick(self.counts)))
        quantiles = _quantiles(sparse, n, self.min_us, self.max_us)
        return Window(n, self.win_failures, round(self.win_sum_ms / n, 3), quantiles)


def _row_sample(row: Any, kind: str, window: Window | None, median: float) -> RowSample:
    lat = row.lat
    return RowSample(
        row.name,
        row.method,
        kind,
        row.requests,
        row.failures,
        ms(lat.sum_us / lat.n) if lat.n else 0.0,
        ms(lat.min_us) if lat.n else 0.0,
        ms(lat.max_us),
        median,
        window,
        row.size_bytes,
    )


def sample_of_result(result: Any, wall: float) -> Sample:
    """A final sample from a RunResult alone (a run that ended before its first second closed):
    exact counts; each row's latency over the whole run stands for its window."""
    rows = []
    for row in result.requests:
        kind = row_kind(row.method)
        if kind is not None and row.requests:
            rows.append(_from_result(row.name, row.method, kind, row, row.failures))
    total = _from_result("Aggregated", "", "request", result.totals, result.totals.failures)
    metrics = {name: dict(values) for name, values in result.metrics.items()}
    return Sample(
        wall,
        result.duration_s,
        0,
        rows,
        total,
        interval=result.duration_s,
        final=True,
        metrics=metrics,
    )


def _from_result(name: str, method: str, kind: str, row: Any, failures: int) -> RowSample:
    lat = row.latency_ms
    quantiles = {0.5: lat.p50, 0.9: lat.p90, 0.95: lat.p95, 0.99: lat.p99, 0.999: lat.p99_9}
    for q in _ALL_QUANTILES:  # those the result does not keep: the next one it does
        quantiles.setdefault(q, next((quantiles[k] for k in sorted(quantiles) if k >= q), lat.max))
    quantiles[1.0] = lat.max
    window = Window(row.requests, failures, lat.mean, quantiles) if row.requests else None
    return RowSample(
        *(name, method, kind, row.requests, failures, lat.mean, lat.min, lat.max, lat.p50),
        *(window, row.size_bytes),
    )
