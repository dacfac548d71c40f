"""Seconds stamped by the epoch (wall-clock) second they belong to: exact distributed timelines.

Each process closes its seconds on wall-clock second boundaries (the runner's ticker
is aligned to them) and keeps every closed second under its epoch second in `out`,
until an export takes them. A master merges the seconds of every worker by that key
(`merge`), so a merged second is the sum of the same wall-clock second everywhere,
and closes an epoch second once every report for it can have arrived (`due`).
This module does not import gevent.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from yamlswarm.runtime.hdr import Dist

__all__ = ["SETTLE_S", "EpochSeconds", "epoch_of"]

KEEP = 300  # closed seconds kept for export at most (a local run never exports them)
SETTLE_S = 2.5  # a master closes second E once the wall clock is past E + 1 + SETTLE_S


def epoch_of(interval_start_wall: float) -> int:
    """The epoch second of a closed interval that started at this wall time.

    Aligned intervals start just after a whole second (that one); the first interval of a
    run (0.5 to 1.5 s long) is the second it mostly covers; a final sliver, the second it
    starts in.
    """
    return math.floor(interval_start_wall + 0.5)


class EpochSeconds:
    """Closed seconds by epoch second: to export (a worker) and merged (a master)."""

    __slots__ = ("merged", "out", "pending")

    def __init__(self) -> None:
        self.out: deque[tuple[int, Dist, int]] = deque(maxlen=KEEP)
        self.pending: dict[int, list[Any]] = {}  # epoch -> [Dist, failures], merged
        self.merged = False  # True once a merge brought epoch seconds: the timeline is theirs

    def close(self, epoch: int, second: Dist, failures: int) -> None:
        """Keep a copy of a closed second under its epoch second."""
        copy = Dist()
        copy.add(second)
        if self.out and self.out[-1][0] == epoch:  # a sliver of the same second: add it in
            _, last, last_failures = self.out.pop()
            copy.add(last)
            failures += last_failures
        self.out.append((epoch, copy, failures))

    def export(self, drain: bool) -> list[list[Any]]:
        items = [[e, d.export(), f] for e, d, f in self.out]
        if drain:
            self.out.clear()
        return items

    def merge(self, items: list[list[Any]]) -> None:
        self.merged = True
        for epoch, dist, failures in items:
            slot = self.pending.get(epoch)
            if slot is None:
                slot = self.pending[epoch] = [Dist(), 0]
            slot[0].merge(dist)
            slot[1] += failures

    def due(self, wall: float, final: bool = False) -> list[tuple[int, Dist, int]]:
        """The merged seconds complete by now (all of them when `final`), oldest first."""
        ready = sorted(e for e in self.pending if final or e + 1 + SETTLE_S <= wall)
        return [(e, *self.pending.pop(e)) for e in ready]
