"""Workload models: the schedules (pure functions) and the controllers that drive a runner.

Closed models keep a number of users busy (`closed`, `stages`, `iterations`);
the open model starts flow iterations on a schedule, whatever the response
times (`arrival`). Schedules are pure and exactly testable; controllers only
sleep on the run's clock until the schedule's next point and tell their
`LoadTarget` (the runner, or a fake in tests) to add, retire or dispatch users.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Protocol

from yamlswarm import plan as p
from yamlswarm.runtime.clock import Clock
from yamlswarm.runtime.context import RunContext

_STAGE_STEP = 0.1  # seconds between user-count adjustments in a stages run


# ----------------------------------------------------------------------------- schedules


def stage_target(stages: tuple[p.Stage, ...], t: float) -> int:
    """Users wanted `t` seconds into a stages run (piecewise linear; or at spawn_rate, then hold)."""
    start_users, start = 0.0, 0.0
    for stage in stages:
        end = start + stage.duration
        if t < end:
            into = t - start
            if stage.spawn_rate:  # move at spawn_rate towards the stage's users, then hold
                step = stage.spawn_rate * into
                if stage.users >= start_users:
                    return int(min(stage.users, start_users + step))
                return math.ceil(max(stage.users, start_users - step))
            fraction = into / stage.duration if stage.duration else 1.0
            return round(start_users + (stage.users - start_users) * fraction)
        start_users, start = float(stage.users), end
    return int(stages[-1].users) if stages else 0


def arrival_offsets(phases: tuple[p.Phase, ...]) -> Iterator[float]:
    """Seconds from the start at which each iteration is due, phase after phase.

    Arrivals are counted across the whole schedule: the k-th (k = 0, 1, ...) is due
    where the cumulative count N(t) reaches k. Inside a phase with rate r0 ramping to
    r1 over d seconds, N grows by r0 t + (r1 - r0) t^2 / 2d.
    """
    start, counted = 0.0, 0.0  # phase start time and arrivals due before it (fractional)
    for phase in phases:
        r0 = phase.rate
        r1 = phase.rate if phase.ramp_to is None else phase.ramp_to
        total = (r0 + r1) / 2 * phase.duration
        k = math.ceil(counted - 1e-9)
        while k < counted + total - 1e-9:
            yield start + _time_of(k - counted, r0, r1, phase.duration)
            k += 1
        start += phase.duration
        counted += total


def _time_of(k: float, r0: float, r1: float, d: float) -> float:
    """Solve r0 t + (r1 - r0) t^2 / (2 d) = k for t in [0, d]."""
    a = (r1 - r0) / (2 * d) if d else 0.0
    if abs(a) < 1e-12:
        return k / r0 if r0 else d
    disc = r0 * r0 + 4 * a * k
    return (-r0 + math.sqrt(max(disc, 0.0))) / (2 * a)


def peak_users(load: p.Load) -> int:
    """The most users the model will run at once (what the spawn order is planned for)."""
    if isinstance(load, (p.ClosedLoad, p.IterationsLoad)):
        return load.users
    if isinstance(load, p.StagesLoad):
        return max((stage.users for stage in load.stages), default=0)
    return load.max_users


def model_duration(load: p.Load) -> float | None:
    if isinstance(load, p.ClosedLoad):
        return load.duration
    if isinstance(load, p.StagesLoad):
        return sum(stage.duration for stage in load.stages)
    if isinstance(load, p.ArrivalLoad):
        return sum(phase.duration for phase in load.phases)
    return None


# ----------------------------------------------------------------------------- controllers


class LoadTarget(Protocol):
    """What a load controller may ask of the runner it drives."""

    @property
    def stopping(self) -> bool: ...

    @property
    def stopped_at(self) -> float:
        """clock.now() time at which the run stopped (inf while it runs)."""
        ...

    @property
    def active_users(self) -> int:
        """Users running now: closed-model users, or open-model users inside an iteration."""
        ...

    def add_user(self) -> object:
        """Start one more closed-model user."""
        ...

    def retire_user(self) -> None:
        """Stop the most recently started user; it finishes its request first."""
        ...

    def all_spawned(self) -> None:
        """The controller has started every user (or arrival) it will."""
        ...

    def prepare_pool(self, size: int) -> None:
        """Open model: `size` users ready for arrivals."""
        ...

    def dispatch(self, due: float) -> None:
        """Open model: start one iteration due at `due` (clock.now()), or count it dropped."""
        ...

    def count_drop(self) -> None:
        """Count one arrival that was due but never started."""
        ...

    def take_iteration(self) -> bool:
        """Reserve one iteration of the budget (False: spent)."""
        ...


Controller = Callable[[p.Load, RunContext, LoadTarget], None]


def _sleep_until(clock: Clock, due: float) -> None:
    delay = due - clock.now()
    if delay > 0:
        clock.sleep(delay)


def run_closed(load: p.Load, ctx: RunContext, target: LoadTarget) -> None:
    """Start the users at the spawn rate (an iterations run: all at once unless -r), then hold."""
    assert isinstance(load, (p.ClosedLoad, p.IterationsLoad))
    clock = ctx.clock
    rate = ctx.spawn_rate or (load.spawn_rate if isinstance(load, p.ClosedLoad) else 0.0)
    interval = 1.0 / rate if rate > 0 else 0.0
    start = clock.now()
    for n in range(load.users):
        if target.stopping:
            return
        _sleep_until(clock, start + n * interval)
        target.add_user()
    target.all_spawned()


def run_stages(load: p.Load, ctx: RunContext, target: LoadTarget) -> None:
    """Every 0.1 s, add or retire users towards the stages' target count."""
    assert isinstance(load, p.StagesLoad)
    clock = ctx.clock
    start = clock.now()
    end = model_duration(load) or 0.0
    tick = 0
    while not target.stopping:
        t = clock.now() - start
        if t >= end:
            break
        wanted = stage_target(load.stages, t)
        while target.active_users < wanted and not target.stopping:
            target.add_user()
        while target.active_users > wanted:
            target.retire_user()
        tick += 1
        _sleep_until(clock, start + tick * _STAGE_STEP)
    target.all_spawned()


def run_open(load: p.Load, ctx: RunContext, target: LoadTarget) -> None:
    """Dispatch each arrival when it is due; arrivals due before the run stopped count as dropped."""
    assert isinstance(load, p.ArrivalLoad)
    clock = ctx.clock
    target.prepare_pool(load.max_users)
    start = clock.now()
    for offset in arrival_offsets(load.phases):
        due = start + offset
        if not target.stopping:
            _sleep_until(clock, due)
        if target.stopping:
            # the run ended (duration, Ctrl-C, an aborting threshold) while this arrival was
            # due or overdue: it was not started, so it is dropped, never silently lost
            if due <= target.stopped_at and target.take_iteration():
                target.count_drop()
                continue
            return
        if not target.take_iteration():
            break
        target.dispatch(due)
    target.all_spawned()


CONTROLLERS: dict[type, Controller] = {
    p.ClosedLoad: run_closed,
    p.IterationsLoad: run_closed,
    p.StagesLoad: run_stages,
    p.ArrivalLoad: run_open,
}
