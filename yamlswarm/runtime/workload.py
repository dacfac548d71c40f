"""Workload models: the schedules (pure functions) and the controllers that drive a runner.

Closed models keep a number of users busy (`closed`, `stages`, `iterations`);
the open model starts flow iterations on a schedule, whatever the response
times (`arrival`). Schedules are pure and exactly testable; controllers only
sleep until the schedule's next point and tell the runner to add, retire or
dispatch users.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import gevent

from yamlswarm import plan as p

if TYPE_CHECKING:
    from yamlswarm.runtime.runner import Runner

Controller = Callable[["Runner", p.Load], None]
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


def _sleep_until(due: float) -> None:
    delay = due - time.perf_counter()
    if delay > 0:
        gevent.sleep(delay)


def run_closed(runner: Runner, load: p.Load) -> None:
    assert isinstance(load, (p.ClosedLoad, p.IterationsLoad))
    users = load.users
    # an iterations run starts its K users at once (unless -r says otherwise): they share the work
    rate = runner.settings.spawn_rate or (
        load.spawn_rate if isinstance(load, p.ClosedLoad) else 0.0
    )
    interval = 1.0 / rate if rate > 0 else 0.0
    start = time.perf_counter()
    for n in range(users):
        if runner.stopping:
            return
        _sleep_until(start + n * interval)
        runner.add_user()
    runner.all_spawned()


def run_stages(runner: Runner, load: p.Load) -> None:
    assert isinstance(load, p.StagesLoad)
    start = time.perf_counter()
    end = model_duration(load) or 0.0
    tick = 0
    while not runner.stopping:
        t = time.perf_counter() - start
        if t >= end:
            break
        target = stage_target(load.stages, t)
        while runner.active_users < target and not runner.stopping:
            runner.add_user()
        while runner.active_users > target:
            runner.retire_user()
        tick += 1
        _sleep_until(start + tick * _STAGE_STEP)
    runner.all_spawned()


def run_open(runner: Runner, load: p.Load) -> None:
    assert isinstance(load, p.ArrivalLoad)
    runner.prepare_pool(load.max_users)
    start = time.perf_counter()
    for offset in arrival_offsets(load.phases):
        due = start + offset
        if not runner.stopping:
            _sleep_until(due)
        if runner.stopping:
            # the run ended (duration, Ctrl-C, an aborting threshold) while this arrival was
            # due or overdue: it was not started, so it is dropped, never silently lost
            if due <= runner.stopped_at and runner.take_iteration():
                runner.stats.dropped += 1
                continue
            return
        if not runner.take_iteration():
            break
        runner.dispatch(due)
    runner.all_spawned()


CONTROLLERS: dict[type, Controller] = {
    p.ClosedLoad: run_closed,
    p.IterationsLoad: run_closed,
    p.StagesLoad: run_stages,
    p.ArrivalLoad: run_open,
}
