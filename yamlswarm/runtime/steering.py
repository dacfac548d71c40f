"""Steering a running load from outside (the web UI): the start gate, target users and rates.

A `Steering` is what a control surface (`yamlswarm.web`) holds of a run. It gates
the start (`--web` without `--autostart` waits for Start), keeps the wanted number
of users and spawn rate of a closed model and the arrival rate of an open model,
and hands stop and reset to the run it is attached to (a `Runner`, or a master).

The steered controllers below replace `workload.run_closed` / `workload.run_open`
when a run is steered: they read the targets every `STEP` seconds, so a change in
the page takes effect within a tenth of a second, and they never touch a request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from gevent.event import Event

from yamlswarm import plan as p
from yamlswarm.runtime.context import RunContext
from yamlswarm.runtime.workload import LoadTarget, arrival_offsets, run_stages

STEP = 0.1  # seconds between two looks at the targets
STATES = ("ready", "spawning", "running", "stopping", "stopped")


class Steerable(Protocol):
    """What a steering hands its commands to: the run in this process, or a master."""

    @property
    def elapsed(self) -> float:
        """Seconds since the load started."""
        ...

    @property
    def active_users(self) -> int:
        """Users running now."""
        ...

    @property
    def stats(self) -> Any:
        """The run's live statistics (None while there are none)."""
        ...

    def stop(self, reason: str) -> None: ...

    def reset_stats(self) -> None: ...


class Steering:
    """The live targets of one run, changed from a control surface, read by the controllers."""

    def __init__(self, load: p.Load, *, wait_for_start: bool, spawn_rate: float | None) -> None:
        self.kind = _kind(load)
        self.users = load.users if isinstance(load, (p.ClosedLoad, p.IterationsLoad)) else 0
        closed_rate = load.spawn_rate if isinstance(load, p.ClosedLoad) else 0.0
        self.spawn_rate = float(spawn_rate or closed_rate or 0.0)
        self.rate: float | None = None  # open model: None follows the scenario's phases
        self.state = "ready"
        self.started = Event()
        self.version = 0  # bumped on every change (the controllers and the page notice)
        self.stop_reason: str | None = None
        self._target: Steerable | None = None
        self._listeners: list[Callable[[], None]] = []
        if not wait_for_start:
            self._begin()

    # -- what a control surface does ---------------------------------------------------

    def attach(self, target: Steerable) -> None:
        self._target = target

    def elapsed(self) -> float:
        """Seconds since Start (0 before)."""
        if self._target is None or not self.started.is_set():
            return 0.0
        if getattr(self._target, "started_at", None) == 0.0:  # a Runner between Start and run
            return 0.0
        return max(0.0, self._target.elapsed)

    def active_users(self) -> int:
        """Users running now (0 before Start)."""
        return self._target.active_users if self._target is not None else 0

    def stats(self) -> Any:
        """The live statistics of the run (None before Start)."""
        if self._target is None or not self.started.is_set():
            return None
        return self._target.stats

    def workers(self) -> list[dict[str, Any]]:
        """The workers of a distributed run and their health (none for a local run)."""
        rows = getattr(self._target, "worker_rows", None)
        return rows() if rows is not None else []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    @property
    def steerable_users(self) -> bool:
        """Whether the user count can change mid-run (a closed model)."""
        return self.kind == "closed"

    def start(self, users: int | None = None, spawn_rate: float | None = None) -> None:
        """Start the run (a no-op once started), with new targets if given."""
        self.change(users, spawn_rate)
        if not self.started.is_set():
            self._begin()
        self._changed()

    def _begin(self) -> None:
        self.state = "spawning" if self.kind in ("closed", "iterations") else "running"
        self.started.set()

    def change(
        self, users: int | None = None, spawn_rate: float | None = None, rate: float | None = None
    ) -> None:
        """New targets: users and spawn rate (closed model), arrival rate (open model)."""
        if users is not None:
            self.users = users
        if spawn_rate is not None:
            self.spawn_rate = spawn_rate
        if rate is not None:
            self.rate = rate
        if self.started.is_set() and self.state in ("running", "spawning") and users is not None:
            self.state = "spawning"
        self._changed()

    def stop(self, reason: str = "stopped from the web UI") -> None:
        if self.state in ("stopping", "stopped"):
            return
        self.state = "stopping"
        self.stop_reason = reason
        self._changed()
        if self._target is not None:
            self._target.stop(reason)
        self.started.set()  # a run still waiting for Start ends without load

    def reset_stats(self) -> None:
        if self._target is not None:
            self._target.reset_stats()
        self._changed()

    def finished(self) -> None:
        self.state = "stopped"
        self._changed()

    # -- what the run does -----------------------------------------------------------------

    def wait_for_start(self, done: Any) -> None:
        """Block (cooperatively) until Start, or until `done` (an Event: the run was stopped)."""
        import gevent

        if not self.started.is_set():
            gevent.wait([self.started, done], count=1)

    def spawned(self, active: int) -> None:
        """A controller reached its target users: the run is "running"."""
        if self.state == "spawning" and active >= self.users:
            self.state = "running"
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        for listener in tuple(self._listeners):
            listener()


def _kind(load: p.Load) -> str:
    if isinstance(load, p.ClosedLoad):
        return "closed"
    if isinstance(load, p.IterationsLoad):
        return "iterations"
    if isinstance(load, p.StagesLoad):
        return "stages"
    return "open"


# ----------------------------------------------------------------------------- controllers


def run_closed_steered(
    load: p.Load, ctx: RunContext, target: LoadTarget, steering: Steering
) -> None:
    """Keep as many users as the steering wants, started at its spawn rate; retire the extra.

    Users that stop by themselves (data exhausted) are not replaced: the count
    is of the users this controller started and did not retire.
    """
    clock = ctx.clock
    started = 0
    next_spawn = clock.now()
    while not target.stopping:
        wanted = steering.users
        now = clock.now()
        while started < wanted and now >= next_spawn and not target.stopping:
            target.add_user()
            started += 1
            rate = steering.spawn_rate
            next_spawn = max(next_spawn, now - STEP) + (1.0 / rate if rate > 0 else 0.0)
        while started > wanted and target.active_users > wanted:
            target.retire_user()
            started -= 1
        started = min(started, wanted)  # those that stopped by themselves are not replaced
        if started >= wanted:
            next_spawn = clock.now()
            steering.spawned(started)
        clock.sleep(min(STEP, max(next_spawn - clock.now(), 0.001)) if started < wanted else STEP)
    target.all_spawned()


def run_open_steered(load: p.Load, ctx: RunContext, target: LoadTarget, steering: Steering) -> None:
    """The scenario's arrival schedule until the steering sets a rate; then that constant rate
    (0: pause) until the run stops."""
    assert isinstance(load, p.ArrivalLoad)
    clock = ctx.clock
    target.prepare_pool(load.max_users)
    start = clock.now()
    schedule = arrival_offsets(load.phases)
    due = start
    while not target.stopping:
        rate = steering.rate
        if rate is None:
            offset = next(schedule, None)
            if offset is None:
                break
            due = start + offset
        elif rate <= 0:
            clock.sleep(STEP)
            due = clock.now()
            continue
        else:
            due = max(due, clock.now() - 1.0) + 1.0 / rate
        delay = due - clock.now()
        while delay > 0 and not target.stopping:
            clock.sleep(min(delay, STEP))  # look at the rate again at least every STEP
            if steering.rate != rate:
                break
            delay = due - clock.now()
        if target.stopping or steering.rate != rate:
            continue
        if not target.take_iteration():
            break
        target.dispatch(due)
    target.all_spawned()


def steered_controller(load: p.Load, steering: Steering) -> Callable[..., None]:
    """The controller of a steered run: `(load, ctx, target)` like those of `workload`."""
    if isinstance(load, p.ClosedLoad):
        return lambda ld, ctx, target: run_closed_steered(ld, ctx, target, steering)
    if isinstance(load, p.ArrivalLoad):
        return lambda ld, ctx, target: run_open_steered(ld, ctx, target, steering)
    if isinstance(load, p.StagesLoad):
        return run_stages
    from yamlswarm.runtime.workload import run_closed

    return run_closed
