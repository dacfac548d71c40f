"""HDR histograms with exact tallies: the measurement primitive of every stats row.

`Dist` wraps an `hdrh` histogram (1 µs .. 1 h, 3 significant digits) and tracks
the exact count, sum, min and max beside it, so means are exact and percentiles
are clamped to the true [min, max]. Hot paths may bump `Dist.counts` directly
with `index_of` (or its inlined form with SHIFT, MASK, HALF, BITS), which gives
the library's own bucket index without a call into it. Merges add the counts
arrays, so they are exact.
"""

from __future__ import annotations

import ctypes
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from hdrh.histogram import HdrHistogram

from yamlswarm.result import PERCENTILE_KEYS, Latency

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
DIGITS = 3
EMPTY_MIN = HIGHEST_US + 1

# Layout of the HDR counts array, read from the library once (see index_of).
_LAYOUT = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
SHIFT = _LAYOUT.sub_bucket_half_count_magnitude
MASK = _LAYOUT.sub_bucket_mask
HALF = _LAYOUT.sub_bucket_half_count
BITS = SHIFT + 1
assert _LAYOUT.unit_magnitude == 0, "the fast index assumes a lowest value of 1"


def index_of(us: int) -> int:
    """Index of `us` in the counts array; equals HdrHistogram._counts_index_for(us)."""
    b = (us | MASK).bit_length() - BITS
    return ((b + 1) << SHIFT) + (us >> b) - HALF


def to_us(seconds: float) -> int:
    us = int(seconds * 1_000_000 + 0.5)
    return 0 if us < 0 else min(us, HIGHEST_US)


def ms(us: float) -> float:
    return round(us / 1000.0, 3)


class Dist:
    """One HDR histogram plus exact count, sum, min and max (all in microseconds)."""

    __slots__ = ("counts", "hist", "max_us", "min_us", "n", "sum_us")

    def __init__(self) -> None:
        self.hist = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        self.counts = self.hist.counts
        self.n = 0
        self.sum_us = 0
        self.min_us = EMPTY_MIN
        self.max_us = 0

    def record(self, us: int) -> None:
        self.counts[index_of(us)] += 1
        self.n += 1
        self.sum_us += us
        self.min_us = min(self.min_us, us)
        self.max_us = max(self.max_us, us)

    def clear(self) -> None:
        ctypes.memset(ctypes.addressof(self.counts), 0, ctypes.sizeof(self.counts))
        self.n = self.sum_us = self.max_us = 0
        self.min_us = EMPTY_MIN

    def add(self, other: Dist) -> None:
        """Add `other` exactly (same layout: the counts arrays are summed)."""
        if not other.n:
            return
        other._sync()
        self.hist.add(other.hist)
        self._add_tallies(other.n, other.sum_us, other.min_us, other.max_us)

    def _add_tallies(self, n: int, sum_us: int, min_us: int, max_us: int) -> None:
        self.n += n
        self.sum_us += sum_us
        self.min_us = min(self.min_us, min_us)
        self.max_us = max(self.max_us, max_us)

    def export(self) -> dict[str, Any]:
        self._sync()
        blob = self.hist.encode() if self.n else b""
        return {
            "n": self.n,
            "sum_us": self.sum_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "hist": blob,
        }

    def merge(self, data: dict[str, Any]) -> None:
        if not data["n"]:
            return
        self.hist.add(HdrHistogram.decode(data["hist"]))
        self._add_tallies(data["n"], data["sum_us"], data["min_us"], data["max_us"])

    def _sync(self) -> None:
        """Make the library's own tallies agree with ours (encode() reads max_value)."""
        self.hist.total_count = self.n
        self.hist.min_value = self.min_us if self.n else 0
        self.hist.max_value = self.max_us

    def percentiles_us(self, qs: Sequence[float]) -> list[int]:
        """HDR percentiles (highest equivalent value), clamped to the exact [min, max]."""
        if not self.n:
            return [0 for _ in qs]
        lo, hi = index_of(self.min_us), index_of(self.max_us)
        cum = list(accumulate(self.counts[lo : hi + 1]))
        out = []
        for q in qs:
            target = max(1, int(q * self.n / 100.0 + 0.5))
            j = bisect_left(cum, target)
            if j >= len(cum):
                out.append(self.max_us)
                continue
            value = self.hist.get_highest_equivalent_value(self.hist.get_value_from_index(lo + j))
            out.append(min(max(value, self.min_us), self.max_us))
        return out

    def percentile_ms(self, q: float) -> float:
        return ms(self.percentiles_us([q])[0])

    def latency(self) -> Latency:
        if not self.n:
            return Latency()
        p50, p90, p95, p99, p99_9 = map(ms, self.percentiles_us([q for _, q in PERCENTILE_KEYS]))
        return Latency(
            min=ms(self.min_us),
            mean=ms(self.sum_us / self.n),
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            p99_9=p99_9,
            max=ms(self.max_us),
        )
