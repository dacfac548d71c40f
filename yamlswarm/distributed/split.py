"""Splitting one run across workers: users, spawn and arrival rates, iterations, unique data.

`split_plan(plan, settings, index, count)` gives worker `index` of `count`
its share as an ordinary plan plus settings, so a worker runs it with the
plain local Runner. Sums are exact: users and iterations add up to the
totals (10 iterations over 3 workers -> 4, 3, 3); user types keep their
global mix because the cluster-wide spawn order is dealt round robin, so
fixed `count`s are exact too; rates are divided among the workers that have
users. `order: unique` feeds are cut into disjoint row sets (rows i, i+n,
...), so no row is used twice in the cluster. Thresholds are left out:
the master evaluates them on the merged numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from yamlswarm import plan as p
from yamlswarm.settings import RunSettings

__all__ = ["Share", "settings_from_wire", "settings_to_wire", "share_of", "split_plan"]

_WIRE_FIELDS = (
    *("host", "users", "spawn_rate", "duration", "iterations", "seed", "stop_timeout"),
    "max_rows",
    *("tags", "exclude_tags", "user_types"),  # workers select the flows the master did
)


@dataclass(frozen=True)
class Share:
    """What one worker runs. `idle`: nothing at all (more workers than users or iterations)."""

    plan: p.Plan
    settings: RunSettings
    index: int
    count: int
    idle: bool = False


def share_of(total: int, index: int, count: int) -> int:
    """Worker `index`'s part of `total` when dealt over `count` (the first ones get the rest)."""
    if count <= 0 or not 0 <= index < count:
        return 0
    return total // count + (1 if index < total % count else 0)


def settings_to_wire(settings: RunSettings) -> dict[str, Any]:
    """The settings a worker needs (no outputs: only the master writes them)."""
    wire = {name: getattr(settings, name) for name in _WIRE_FIELDS}
    wire["env"] = dict(settings.env)
    return wire


def settings_from_wire(wire: dict[str, Any]) -> RunSettings:
    known: dict[str, Any] = {
        name: wire.get(name) for name in _WIRE_FIELDS if wire.get(name) is not None
    }
    return RunSettings(env=dict(wire.get("env") or {}), quiet=True, **known)


def split_plan(plan: p.Plan, settings: RunSettings, index: int, count: int) -> Share:
    """Worker `index` of `count`'s share of the run (see the module docstring)."""
    load = plan.load
    budget = _iteration_budget(plan, settings)
    if isinstance(load, (p.ClosedLoad, p.IterationsLoad)):
        share = _split_closed(plan, settings, load, budget, index, count)
    elif isinstance(load, p.StagesLoad):
        share = _split_stages(plan, settings, load, budget, index, count)
    else:
        share = _split_open(plan, settings, load, budget, index, count)
    if share.idle:
        return share
    cap = share.plan.iterations_cap
    if share.settings.iterations is not None and not isinstance(load, p.IterationsLoad):
        cap = share.settings.iterations  # the runtime reads the cap from the plan
    return dataclasses.replace(
        share,
        plan=dataclasses.replace(
            share.plan,
            thresholds=(),
            iterations_cap=cap,
            data=_partition_data(plan.data, share.index, share.count),
        ),
        settings=dataclasses.replace(share.settings, seed=_worker_seed(settings.seed, index)),
    )


def _iteration_budget(plan: p.Plan, settings: RunSettings) -> int | None:
    if settings.iterations is not None:
        return settings.iterations
    if isinstance(plan.load, p.IterationsLoad):
        return plan.load.iterations
    return plan.iterations_cap


def _active(count: int, *limits: int | None) -> int:
    return min([count, *(n for n in limits if n is not None)])


def _idle(plan: p.Plan, settings: RunSettings, index: int, count: int) -> Share:
    return Share(plan, settings, index, count, idle=True)


def _split_closed(
    plan: p.Plan,
    settings: RunSettings,
    load: p.ClosedLoad | p.IterationsLoad,
    budget: int | None,
    index: int,
    count: int,
) -> Share:
    from yamlswarm.runtime.runner import distribute

    users = settings.users or load.users
    active = _active(count, users, budget)
    if index >= active:
        return _idle(plan, settings, index, active)
    mine = Counter(distribute(plan.users, users)[index::active])
    local_users = sum(mine.values())
    kinds = tuple(
        dataclasses.replace(kind, count=mine.get(i, 0), weight=None)
        for i, kind in enumerate(plan.users)
    )
    iterations = share_of(budget, index, active) if budget is not None else None
    spawn_rate = settings.spawn_rate
    if isinstance(load, p.ClosedLoad):
        rate = settings.spawn_rate or load.spawn_rate
        new_load: p.Load = dataclasses.replace(
            load, users=local_users, spawn_rate=rate * local_users / users
        )
        spawn_rate = None
    else:
        new_load = dataclasses.replace(load, users=local_users, iterations=iterations or 0)
        if spawn_rate:
            spawn_rate = spawn_rate * local_users / users
    worker_settings = dataclasses.replace(
        settings, users=None, spawn_rate=spawn_rate, iterations=iterations
    )
    return Share(
        dataclasses.replace(plan, load=new_load, users=kinds), worker_settings, index, active
    )


def _split_counts(plan: p.Plan, index: int, count: int) -> tuple[p.UserType, ...]:
    """Fixed counts dealt out (the remainder rotated by type, so it spreads); weights kept."""
    return tuple(
        kind
        if kind.count is None
        else dataclasses.replace(kind, count=share_of(kind.count, (index + i) % count, count))
        for i, kind in enumerate(plan.users)
    )


def _split_stages(
    plan: p.Plan,
    settings: RunSettings,
    load: p.StagesLoad,
    budget: int | None,
    index: int,
    count: int,
) -> Share:
    active = _active(count, max(s.users for s in load.stages), budget)
    if index >= active:
        return _idle(plan, settings, index, active)
    stages = tuple(
        dataclasses.replace(
            stage,
            users=share_of(stage.users, index, active),
            spawn_rate=None if stage.spawn_rate is None else stage.spawn_rate / active,
        )
        for stage in load.stages
    )
    iterations = share_of(budget, index, active) if budget is not None else None
    return Share(
        dataclasses.replace(
            plan,
            load=dataclasses.replace(load, stages=stages),
            users=_split_counts(plan, index, active),
        ),
        dataclasses.replace(settings, iterations=iterations),
        index,
        active,
    )


def _split_open(
    plan: p.Plan,
    settings: RunSettings,
    load: p.ArrivalLoad,
    budget: int | None,
    index: int,
    count: int,
) -> Share:
    active = _active(count, load.max_users, budget)
    if index >= active:
        return _idle(plan, settings, index, active)
    phases = tuple(
        dataclasses.replace(
            phase,
            rate=phase.rate / active,
            ramp_to=None if phase.ramp_to is None else phase.ramp_to / active,
        )
        for phase in load.phases
    )
    new_load = dataclasses.replace(
        load, phases=phases, max_users=share_of(load.max_users, index, active)
    )
    iterations = share_of(budget, index, active) if budget is not None else None
    return Share(
        dataclasses.replace(plan, load=new_load, users=_split_counts(plan, index, active)),
        dataclasses.replace(settings, iterations=iterations),
        index,
        active,
    )


def _partition_data(
    feeds: tuple[p.DataFeed, ...], index: int, count: int
) -> tuple[p.DataFeed, ...]:
    """`order: unique` feeds keep rows index, index+count, ...; other feeds keep every row."""
    return tuple(
        dataclasses.replace(feed, rows=feed.rows[index::count]) if feed.order == "unique" else feed
        for feed in feeds
    )


def _worker_seed(seed: int | None, index: int) -> int | None:
    """Each worker its own reproducible seed, so workers do not all make the same choices."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"yamlswarm-seed:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
