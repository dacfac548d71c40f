"""What a run gives the code it drives: `BuildEnv` for step builders, `RunContext` for users.

A leaf module (it imports no other part of the runtime that imports it back):
step builders (`runtime.steps`, `runtime.request`, the kinds) receive a
`BuildEnv`, users and load controllers a `RunContext` (the whole run as they
may see it; `RunContext.build_env()` is its builders' part), never the runner.
`RunState` is the part of a run that changes while it runs: the stop flag and
the iterations budget. `StepUser` is what the request executor may use of a
virtual user (`kinds.base.StepUser` is the same for the other kinds, plus the
`transport` here).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from yamlswarm import plan as p
from yamlswarm.runtime.clock import Clock, system_clock

if TYPE_CHECKING:
    from yamlswarm.runtime.data import FeedState
    from yamlswarm.runtime.hook_calls import HookRunner
    from yamlswarm.runtime.http.message import Origin
    from yamlswarm.runtime.http.transport import Transport, TransportFactory
    from yamlswarm.runtime.stats import Stats

Executor = Callable[[Any], bool]  # run(user) -> False when the step failed


class StepUser(Protocol):
    """What step executors use of a virtual user (runtime.user.VirtualUser is the real one)."""

    id: int
    name: str
    vars: dict[str, Any]
    rng: random.Random
    transport: Transport
    session_headers: dict[str, Any]  # lower-case name -> runtime.session_headers.SessionHeader
    stop_on_failure: bool
    in_on_stop: bool
    busy: bool  # True while a request is in flight: a graceful stop lets it finish

    @property
    def stopping(self) -> bool: ...

    def sleep(self, seconds: float) -> None: ...

    def take_intended_start(self) -> float | None: ...


class RunState:
    """The shared, changing state of one run: whether it stops, and the iterations budget.

    `budget` None means no limit. `take_iteration()` reserves one iteration before
    it starts (False: the budget is spent); `iteration_finished()` stops the run
    once `budget` iterations have finished. `now` is the run's clock (default
    the system's); `on_stop` is called once, by the first `stop(reason)`.
    """

    __slots__ = (
        "_finished",
        "_left",
        "_now",
        "_on_stop",
        "budget",
        "stop_reason",
        "stopped_at",
        "stopping",
    )

    def __init__(
        self,
        budget: int | None = None,
        now: Callable[[], float] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.budget = budget
        self._left = budget
        self._finished = 0
        self._now = now or system_clock().now
        self._on_stop = on_stop
        self.stopping = False  # a plain attribute: every request reads it
        self.stop_reason: str | None = None
        self.stopped_at = float("inf")  # clock.now() time of stop()

    def stop(self, reason: str | None) -> None:
        """Stop the run (the first call counts); `reason` None: a StopTest without one."""
        if not self.stopping:
            self.stopped_at = self._now()
            self.stopping = True
            self.stop_reason = reason or "test stopped"
            if self._on_stop is not None:
                self._on_stop()

    def take_iteration(self) -> bool:
        if self._left is None:
            return True
        if self._left <= 0:
            return False
        self._left -= 1
        return True

    def iteration_finished(self) -> None:
        self._finished += 1
        if self.budget is not None and self._finished >= self.budget:
            self.stop("iterations done")


def _no_transport() -> Transport:
    raise RuntimeError("this RunContext was built without a transport_factory")


Together = Callable[[Sequence[Callable[[], bool]]], list[bool]]


def in_turn(tasks: Sequence[Callable[[], bool]]) -> list[bool]:
    """Run `tasks` one after the other (the default where no gevent runner provides `together`)."""
    return [task() for task in tasks]


@dataclass
class BuildEnv:
    """What step builders need from the run: stats, the base origin, hooks, tracing, the clock."""

    stats: Stats
    base: Origin | None
    hooks: HookRunner
    trace: Callable[..., None] | None = None  # set by --trace: called with each exchange
    log: Callable[[str], None] = print
    clock: Clock = field(default_factory=system_clock)  # builders only read clock.now
    # a `parallel:` step: a new transport for its pool, and how to run its requests at once
    transport_factory: Callable[[], Transport] = _no_transport
    together: Together = in_turn
    _log_times: dict[str, float] = field(default_factory=dict)


@dataclass(kw_only=True)
class RunContext:
    """Everything users and load controllers get from the run; `build_env()` is what step
    builders get of it.

    `template_globals`: the names every user's template context starts with
    (Jinja globals, hook template functions, scenario variables, faker, env);
    `rng`: the run's seeded random source (feeds and user seeds are drawn from
    it, in spawn order); `user_variables`: the scenario variables that are lists or
    maps, which each user deep-copies (so users share nothing and the plan is never
    mutated); `spawn_rate`: `-r` from the command line, which an
    iterations model honours (a closed model has it merged in already).
    """

    stats: Stats
    hooks: HookRunner
    clock: Clock  # the run's: users sleep on it
    base: Origin | None = None
    state: RunState = field(default_factory=RunState)
    feeds: dict[str, FeedState] = field(default_factory=dict)
    defaults: p.Defaults = field(default_factory=p.Defaults)
    transport_factory: TransportFactory = _no_transport
    rng: random.Random = field(default_factory=random.Random)
    template_globals: Mapping[str, Any] = field(default_factory=dict)
    # scenario variables holding lists or maps: each user starts with its own deep copy
    user_variables: Mapping[str, Any] = field(default_factory=dict)
    spawn_rate: float | None = None
    trace: Callable[..., None] | None = None
    log: Callable[[str], None] = print
    together: Together = in_turn  # the runner's: each task in its own greenlet
    # `user.request` of hook code (runtime.code_request.CodeRequests), made on first use
    code_requests: Any = None

    def build_env(self) -> BuildEnv:
        """The part of the run step builders see (build it once: log steps share its state)."""
        return BuildEnv(
            self.stats,
            self.base,
            self.hooks,
            self.trace,
            self.log,
            self.clock,
            self.transport_factory,
            self.together,
        )
