"""HDR histograms with exact tallies: the measurement primitive of every stats row.

`Dist` is a sparse `hdrh`-layout histogram (1 µs .. 1 h, 3 significant digits) and tracks
the exact count, sum, min and max beside it, so means are exact and percentiles
are clamped to the true [min, max]. Hot paths may bump `Dist.counts` directly
with `index_of` (or its inlined form with SHIFT, MASK, HALF, BITS), which gives
the library's own bucket index without a call into it. Merges add the counts
bucket by bucket, so they are exact.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
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
COUNTS_LEN = _LAYOUT.counts_len
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
    """A sparse HDR histogram plus exact count, sum, min and max (all in microseconds).

    `counts` maps an HDR bucket index (`index_of`) to its count and holds only the
    buckets that were hit: a row whose latencies span a few hundred buckets costs a
    few kB instead of the ~190 kB of the library's dense counts array, with the same
    buckets, hence the same 3 significant digits. The library's histogram is built
    only to encode (`export`) and decode (`merge`) the standard wire format.
    """

    __slots__ = ("counts", "max_us", "min_us", "n", "sum_us")

    def __init__(self) -> None:
        self.counts: defaultdict[int, int] = defaultdict(int)
        self.n = 0
        self.sum_us = 0
        self.min_us = EMPTY_MIN
        self.max_us = 0

    def record(self, us: int) -> None:
        self.counts[index_of(us)] += 1
        self.n += 1
        self.sum_us += us
        if us < self.min_us:
            self.min_us = us
        if us > self.max_us:
            self.max_us = us

    def clear(self) -> None:
        self.counts.clear()
        self.n = self.sum_us = self.max_us = 0
        self.min_us = EMPTY_MIN

    def add(self, other: Dist) -> None:
        """Add `other` exactly (the same buckets: counts are summed)."""
        if not other.n:
            return
        counts = self.counts
        for i, c in other.counts.items():
            counts[i] += c
        self._add_tallies(other.n, other.sum_us, other.min_us, other.max_us)

    def _add_tallies(self, n: int, sum_us: int, min_us: int, max_us: int) -> None:
        self.n += n
        self.sum_us += sum_us
        self.min_us = min(self.min_us, min_us)
        self.max_us = max(self.max_us, max_us)

    def export(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "sum_us": self.sum_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "hist": self._encode() if self.n else b"",
        }

    def _encode(self) -> bytes:
        hist = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        dense = hist.counts
        for i, c in self.counts.items():
            if c:
                dense[i] = c
        hist.total_count = self.n  # encode() reads the library's own tallies
        hist.min_value = self.min_us
        hist.max_value = self.max_us
        return hist.encode()

    def merge(self, data: dict[str, Any]) -> None:
        if not data["n"]:
            return
        dense = HdrHistogram.decode(data["hist"]).counts
        counts = self.counts
        lo, hi = index_of(max(data["min_us"], 0)), index_of(min(data["max_us"], HIGHEST_US))
        for i in range(lo, min(hi + 1, len(dense))):
            c = dense[i]
            if c:
                counts[i] += c
        self._add_tallies(data["n"], data["sum_us"], data["min_us"], data["max_us"])

    def percentiles_us(self, qs: Sequence[float]) -> list[int]:
        """HDR percentiles (highest equivalent value), clamped to the exact [min, max]."""
        if not self.n:
            return [0 for _ in qs]
        keys = sorted(i for i, c in self.counts.items() if c)
        cum = list(accumulate(self.counts[i] for i in keys))
        out = []
        for q in qs:
            target = max(1, int(q * self.n / 100.0 + 0.5))
            j = bisect_left(cum, target)
            if j >= len(cum):
                out.append(self.max_us)
                continue
            value = _LAYOUT.get_highest_equivalent_value(_LAYOUT.get_value_from_index(keys[j]))
            out.append(min(max(value, self.min_us), self.max_us))
        return out

    def percentile_ms(self, q: float) -> float:
        return ms(self.percentiles_us([q])[0])

    def summary(self) -> dict[str, float] | None:
        """{p50, p99, max} in ms (None without data): schedule lag, loop lag, client delay."""
        if not self.n:
            return None
        p50, p99 = self.percentiles_us((50.0, 99.0))
        return {"p50": ms(p50), "p99": ms(p99), "max": ms(self.max_us)}

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
