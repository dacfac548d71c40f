"""User types as users run them: flows picked by weight, the wait between iterations, the spawn mix.

Pure data and functions: the runner fills `CompiledUserType` with step
executors (built by `runtime.steps`), a `VirtualUser` runs them.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from yamlswarm import plan as p
from yamlswarm.runtime.context import Executor

WaitFunction = Callable[[random.Random, float], float]


@dataclass(frozen=True)
class CompiledFlow:
    """A flow ready to run: its step executors, run in order by the user."""

    name: str
    steps: tuple[Executor, ...]
    stop_on_failure: bool
    row: Any  # RowStats of the flow: one transaction per iteration (method FLOW)


@dataclass(frozen=True)
class CompiledUserType:
    """A user type with its steps built: what every user of the type runs."""

    name: str
    flows: tuple[CompiledFlow, ...]
    cumulative: tuple[float, ...]  # cumulative flow weights, for bisect
    on_start: tuple[Executor, ...]
    on_stop: tuple[Executor, ...]
    wait: WaitFunction | None
    session_headers: Mapping[str, Any] = field(default_factory=dict)  # name -> SessionHeader

    def pick(self, rng: random.Random) -> CompiledFlow:
        if len(self.flows) == 1:
            return self.flows[0]
        return self.flows[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def wait_function(wait: p.Wait | None) -> WaitFunction | None:
    """Seconds to wait after an iteration that took `elapsed` seconds."""
    if wait is None:
        return None
    low, high = wait.low, wait.high
    if wait.kind == "constant":
        return lambda rng, elapsed: low
    if wait.kind == "between":
        return lambda rng, elapsed: rng.uniform(low, high)
    if wait.kind == "pacing":
        return lambda rng, elapsed: max(0.0, low - elapsed)
    if wait.kind == "throughput":
        interval = 1.0 / low if low > 0 else 0.0
        return lambda rng, elapsed: max(0.0, interval - elapsed)
    raise ValueError(f"unknown wait kind {wait.kind!r}")


def distribute(user_types: tuple[p.UserType, ...], total: int) -> list[int]:
    """Spawn order of `total` users: fixed counts first honoured, the rest by weight, interleaved.

    Returns the index of the user type of each user, in spawn order. Counts are
    exact (largest remainder), and the order is a smooth weighted round robin,
    so a ramp-up always has the same mix as the full load.
    """
    fixed = {i: t.count for i, t in enumerate(user_types) if t.count is not None}
    remaining = max(total - sum(fixed.values()), 0)
    weighted = {i: t.weight or 0.0 for i, t in enumerate(user_types) if t.count is None}
    weight_sum = sum(weighted.values())
    totals = dict(fixed)
    if weighted and weight_sum > 0:
        shares = {i: remaining * w / weight_sum for i, w in weighted.items()}
        floor = {i: int(s) for i, s in shares.items()}
        left = remaining - sum(floor.values())
        for i in sorted(shares, key=lambda i: (floor[i] - shares[i], i))[:left]:
            floor[i] += 1
        totals.update(floor)
    order: list[int] = []
    current = {i: 0.0 for i in totals}
    count = sum(totals.values())
    for _ in range(count):
        for i in current:
            current[i] += totals[i]
        chosen = max(current, key=lambda i: (current[i], -i))
        current[chosen] -= count
        order.append(chosen)
    return order
