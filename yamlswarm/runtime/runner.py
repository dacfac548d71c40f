"""The local runner: builds users from a plan, drives the load model, ticks stats, stops cleanly.

The runner owns the greenlets; what users and load controllers see of it is a
`RunContext` (runtime.context) and, for controllers, the `LoadTarget`
protocol (runtime.workload) that the runner implements. Time is the injected
`Clock`'s, connections come from the injected transport factory.
"""

from __future__ import annotations

import itertools
import math
import random
import signal
import sys
from collections import ChainMap
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import gevent
from gevent.event import Event

from yamlswarm import plan as p
from yamlswarm.runtime.clock import Clock, SystemClock
from yamlswarm.runtime.context import RunContext, RunState
from yamlswarm.runtime.data import FeedState
from yamlswarm.runtime.fake import make_faker
from yamlswarm.runtime.health import HealthMonitor
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.http.message import Origin, parse_origin
from yamlswarm.runtime.http.session import session_factory
from yamlswarm.runtime.http.transport import TransportFactory
from yamlswarm.runtime.observers import Observers, Tick
from yamlswarm.runtime.session_headers import session_headers
from yamlswarm.runtime.signals import StopUser
from yamlswarm.runtime.slo import first_abort
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.steering import Steering, steered_controller
from yamlswarm.runtime.steps import build_steps
from yamlswarm.runtime.user import VirtualUser
from yamlswarm.runtime.usertypes import CompiledFlow, CompiledUserType, distribute, wait_function
from yamlswarm.runtime.workload import CONTROLLERS, model_duration, peak_users
from yamlswarm.settings import RunSettings
from yamlswarm.templates import base_context

__all__ = ["GeventClock", "Runner"]


class GeventClock(SystemClock):
    """The real clock of a run: system time, and gevent's sleep (other greenlets run meanwhile)."""

    __slots__ = ()

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            gevent.sleep(seconds)


class Runner:
    """Runs one compiled plan in this process."""

    handle_signals = True  # False when a Watchdog catches SIGINT/SIGTERM instead

    def __init__(
        self,
        plan: p.Plan,
        settings: RunSettings,
        *,
        hooks: HookRunner | None = None,
        stats: Stats | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        live: Any = None,
        partition: tuple[int, int] = (0, 1),
        trace: Callable[..., None] | None = None,
        clock: Clock | None = None,
        transport_factory: TransportFactory | None = None,
        observers: Observers | None = None,
        steering: Steering | None = None,
    ) -> None:
        """`partition` (index, count): this process's share of `order: unique` data rows;
        `trace`: called after every request with (user, step, response, error) (--trace);
        `clock`: time and sleeping (default the real one); `transport_factory`: a new
        transport for each user (default: HTTP sessions against the plan's host);
        `observers`: told once a second (live exports, the web UI); `steering`: the start
        gate and live targets of a steered run (--web)."""
        self.plan = plan
        self.settings = settings
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.clock = clock or GeventClock()
        self.stats = stats or Stats(clock=self.clock.wall, max_rows=settings.max_rows)
        self.stats.warn = self.stats.warn or self._log
        self.stats.metrics.declare(plan.metrics)
        self.hooks = hooks or HookRunner(None)
        self.live = live
        self.observers = observers or Observers((), self.err)
        self.base: Origin | None = parse_origin(plan.host) if plan.host else None
        self.rng = random.Random(settings.seed)
        self.faker = make_faker(plan.faker_locale, settings.seed)
        self.feeds = {
            feed.name: FeedState(feed, random.Random(self.rng.random()), partition)
            for feed in plan.data
        }
        self.env = ChainMap(dict(settings.env), _EnvView())
        self.template_functions = self.hooks.template_functions
        self._done = Event()
        # the load starts (ticks, duration) once an open model's pool has run its on_start
        self._load_started = Event()
        load = plan.load
        budget = load.iterations if isinstance(load, p.IterationsLoad) else plan.iterations_cap
        self.state = RunState(budget, self.clock.now, on_stop=self._done.set)
        self.ctx = self._context(trace, transport_factory)
        self.build_env = self.ctx.build_env()
        self.user_types = tuple(self._compile_user_type(t) for t in plan.users)
        self._init_users()
        self._all_spawned = self.interrupted = False
        self.aborted: str | None = None
        self._next_id = itertools.count(1)
        self.started_at = 0.0
        self.steering = steering
        real = isinstance(self.clock, GeventClock)  # a fake clock: no CPU share to measure
        self.health = HealthMonitor(self.clock, warn=self._log) if real else None

    def _init_users(self) -> None:
        self.users: list[VirtualUser] = []  # running closed-model users, in spawn order
        self._spawned: list[VirtualUser] = []
        self._order = distribute(self.plan.users, peak_users(self.plan.load))  # mix at the peak
        self._retiring: list[VirtualUser] = []
        self._pool: list[VirtualUser] = []  # open model: idle users
        self._busy_pool: set[VirtualUser] = set()  # open model: users inside an iteration
        self._warming: list[gevent.Greenlet] = []  # open model: pooled users in on_start

    # -- building ----------------------------------------------------------------

    def _context(
        self, trace: Callable[..., None] | None, transport_factory: TransportFactory | None
    ) -> RunContext:
        """What users, controllers and step builders get of this run."""
        defaults = self.plan.defaults
        return RunContext(
            stats=self.stats,
            base=self.base,
            hooks=self.hooks,
            trace=trace,
            log=self._log,
            clock=self.clock,
            state=self.state,
            feeds=self.feeds,
            defaults=defaults,
            transport_factory=transport_factory
            or session_factory(
                self.base,
                verify_tls=defaults.verify_tls,
                tls=defaults.tls,
                proxy=defaults.proxy,
                limits=defaults.limits,
            ),
            rng=self.rng,
            template_globals=self._template_globals(),
            user_variables={
                k: v for k, v in self.plan.variables.items() if isinstance(v, (list, dict, set))
            },
            spawn_rate=self.settings.spawn_rate,
            together=_together,
        )

    def _compile_user_type(self, kind: p.UserType) -> CompiledUserType:
        env = self.build_env
        flows = tuple(
            CompiledFlow(
                f.name,
                build_steps(f.steps, env),
                f.stop_on_failure,
                self.stats.row(f.name, "FLOW"),
            )
            for f in kind.flows
        )
        return CompiledUserType(
            name=kind.name,
            flows=flows,
            cumulative=tuple(itertools.accumulate(f.weight for f in kind.flows)),
            on_start=build_steps(kind.on_start, env),
            on_stop=build_steps(kind.on_stop, env),
            wait=wait_function(kind.wait),
            session_headers=session_headers(kind.session_headers),
        )

    def _template_globals(self) -> dict[str, Any]:
        names = base_context()
        names.update(self.template_functions)
        names.update(self.plan.variables)
        names.update(faker=self.faker, env=self.env)
        return names

    def _log(self, line: str) -> None:
        print(line, file=self.err, flush=True)

    # -- the run's state, as controllers and hooks see it --------------------------

    @property
    def stopping(self) -> bool:
        return self.state.stopping

    @property
    def stopped_at(self) -> float:
        """clock.now() time of stop() (inf while running)."""
        return self.state.stopped_at

    @property
    def stop_reason(self) -> str | None:
        return self.state.stop_reason

    def take_iteration(self) -> bool:
        return self.state.take_iteration()

    def count_drop(self) -> None:
        self.stats.dropped += 1

    # -- users -------------------------------------------------------------------

    def _new_user(self) -> VirtualUser:
        """The next user in spawn order (so any prefix of users has the scenario's mix)."""
        position = len(self._spawned)
        if position >= len(self._order):  # stages ramping up again after a ramp down
            self._order.extend(self._order or distribute(self.plan.users, 1))
        user = VirtualUser(
            self.ctx,
            self.user_types[self._order[position]],
            next(self._next_id),
            self.rng.getrandbits(64),
            self.ctx.transport_factory(),
        )
        self._spawned.append(user)
        return user

    def add_user(self) -> VirtualUser:
        """Start one more closed-model user."""
        user = self._new_user()
        self.users.append(user)
        user.greenlet = gevent.spawn(self._user_main, user)
        return user

    def retire_user(self) -> None:
        """Stop the most recently started user (stages ramping down); it finishes its request."""
        for user in reversed(self.users):
            if not user.retired:
                user.retired = True
                self.users.remove(user)
                self._retiring.append(user)
                if user.greenlet is not None and not user.busy:
                    user.greenlet.kill(StopUser, block=False)
                return

    def _user_main(self, user: VirtualUser) -> None:
        try:
            user.run()
        finally:
            for group in (self.users, self._retiring):
                if user in group:
                    group.remove(user)
            if self._all_spawned and not self.users:
                self.stop("all users finished")

    def all_spawned(self) -> None:
        """The controller has started every user it will; closed runs end when users finish."""
        self._all_spawned = True
        if not self.users and not self._busy_pool:
            self.stop("all users finished")

    def prepare_pool(self, size: int) -> None:
        """Open model: `size` users ready for arrivals, each created with its on_start run
        (all at once, before the schedule starts: on_start is no iteration's lateness)."""
        users = [self._new_user() for _ in range(size)]
        if any(t.on_start for t in self.user_types) or self.hooks.on_user_start:
            self._warming = [gevent.spawn(u.start_pooled) for u in users]
            gevent.joinall(self._warming)
            self._warming = []
        else:
            for user in users:
                user.start_pooled()
        self._pool = [u for u in users if u.alive]
        self._begin_load()

    def _begin_load(self) -> None:
        """The load starts now: the duration and the timeline count from here."""
        if not self._load_started.is_set():
            self.started_at = self.clock.now()
            self.stats.start()
            self._load_started.set()

    def dispatch(self, due: float) -> None:
        """Open model: start one iteration due at `due` (clock.now()), or count it dropped."""
        if not self._pool:
            self.count_drop()
            return
        user = self._pool.pop()
        self._busy_pool.add(user)
        user.greenlet = gevent.spawn(self._arrival_main, user, due)

    def _arrival_main(self, user: VirtualUser, due: float) -> None:
        try:
            user.run_arrival(due)
        finally:
            self._busy_pool.discard(user)
            if user.alive:
                self._pool.append(user)
            if self._all_spawned and not self._busy_pool:
                self.stop("schedule finished")

    @property
    def active_users(self) -> int:
        """Users running now: closed-model users, or open-model users inside an iteration."""
        return len(self.users) + len(self._busy_pool)

    # -- control -------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        self.state.stop(reason)

    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM: the first stops gracefully, the second forces."""
        if self.interrupted:
            for user in [*self.users, *self._retiring, *self._busy_pool]:
                if user.greenlet is not None:
                    user.greenlet.kill(block=False)
            return
        self.interrupted = True
        self.stop("interrupted")

    def _stop_users(self) -> None:
        """Graceful stop: idle users stop at once, busy ones after their request; then a hard stop."""
        if self._warming:  # stopped while the open model's pool ran on_start
            gevent.killall(self._warming, StopUser, block=True, timeout=self.settings.stop_timeout)
        running = [*self.users, *self._retiring, *self._busy_pool]
        greenlets = [u.greenlet for u in running if u.greenlet is not None]
        for user in running:
            # a sleeping user is interrupted where it sleeps; one in a request finishes it
            # first and then stops by itself (request._after)
            if user.greenlet is not None and not user.busy:
                user.greenlet.kill(StopUser, block=False)
        gevent.joinall(greenlets, timeout=self.settings.stop_timeout)
        stragglers = [g for g in greenlets if not g.dead]
        if stragglers:
            gevent.killall(stragglers, block=True, timeout=2)
        # open model: idle pool users that ran on_start still run on_stop and close connections
        idle = [gevent.spawn(u.finish) for u in self._pool if u.started and u.alive]
        gevent.joinall(idle, timeout=self.settings.stop_timeout)
        gevent.killall([g for g in idle if not g.dead], block=True, timeout=2)

    # -- the load model ---------------------------------------------------------------

    def _control(self) -> None:
        load = self.plan.load
        if self.steering is not None:
            steered_controller(load, self.steering)(load, self.ctx, self)
            return
        CONTROLLERS[type(load)](load, self.ctx, self)

    def reset_stats(self) -> None:
        """Zero the numbers so far (the web UI's reset); the run and its timeline go on."""
        self.stats.export(reset=True)

    def _duration(self) -> float | None:
        if self.settings.duration is not None:
            return self.settings.duration
        return model_duration(self.plan.load)

    def _ticker(self) -> None:
        """Once a second: close the stats second, update the live view, check aborts and duration."""
        clock = self.clock
        duration = self._duration()
        aborting = tuple(t for t in self.plan.thresholds if t.abort)
        self._load_started.wait()
        # seconds end on wall-clock seconds (the first is 0.5 to 1.5 s long), so that the
        # seconds of distributed workers are the same seconds (runtime.epochs)
        wall = clock.wall()
        next_tick = clock.now() + math.floor(wall + 0.5) + 1.0 - wall
        while not self.stopping:
            clock.sleep(next_tick - clock.now())
            next_tick += 1.0
            self._health_second()
            second = self.stats.tick(self.active_users)
            if self.observers:
                self.observers.second(Tick(self.stats, self.active_users, self.elapsed, second))
            if self.live is not None:
                self.live.update(self.stats.live_view(self.active_users, duration))
            elapsed = self.elapsed
            if aborting:
                failed = first_abort(aborting, self.stats, elapsed)
                if failed is not None:
                    self.aborted = failed
                    self.stop(f"threshold failed: {failed}")
            if duration is not None and elapsed >= duration:
                self.stop("duration reached")

    def _health_second(self) -> None:
        if self.health is not None:
            self.health.second()
            self._health_report()

    def _health_report(self) -> None:
        assert self.health is not None
        report = self.health.report()
        delay = self.stats.delay.summary()
        if delay is not None:
            report["client_delay_ms"] = delay
        self.stats.generator = report

    # -- run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until the model ends, the duration passes, iterations run out or Ctrl-C."""
        handlers = _install_signals(self.interrupt) if self.handle_signals else []
        if self.steering is not None:  # --web: the duration counts from Start
            self.steering.attach(self)
            self.steering.wait_for_start(self._done)
        self.started_at = self.clock.now()
        self.stats.start()
        if not isinstance(self.plan.load, p.ArrivalLoad):
            self._load_started.set()
        failure = (
            self.hooks.call_each(self.hooks.on_test_start, self)
            if self.hooks.on_test_start
            else None
        )
        if failure:
            print(f"on_test_start failed: {failure}", file=self.err)
        control = gevent.spawn(self._control)
        ticker = gevent.spawn(self._ticker)
        health = gevent.spawn(self.health.run) if self.health is not None else None
        try:
            self._done.wait()
        finally:
            control.join(timeout=2.0)  # controllers return promptly once stopping is set
            control.kill(block=True)
            self._stop_users()
            ticker.kill(block=True)
            if health is not None:
                health.kill(block=True)
                self._health_report()
            self.stats.tick(self.active_users)
            _restore_signals(handlers)
            if self.steering is not None:
                self.steering.finished()

    @property
    def elapsed(self) -> float:
        return self.clock.now() - self.started_at


class _EnvView(dict):
    """`env` falls back to the real environment (read at lookup time)."""

    def __missing__(self, key: str) -> str:
        import os

        return os.environ[key]

    def __contains__(self, key: object) -> bool:
        import os

        return isinstance(key, str) and key in os.environ


def _install_signals(callback: Callable[[], None]) -> list[Any]:
    handlers = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers.append(gevent.signal_handler(sig, callback))
        except (ValueError, OSError):  # not the main thread
            pass
    return handlers


def _restore_signals(handlers: list[Any]) -> None:
    for handler in handlers:
        handler.cancel()


def _together(tasks: Sequence[Callable[[], bool]]) -> list[bool]:
    """Run `tasks` at once, each in its own greenlet (a `parallel:` step); their results, in order.
    A stop signal raised by one is raised again here, after all have ended."""
    greenlets = [gevent.spawn(task) for task in tasks]
    gevent.joinall(greenlets)
    for greenlet in greenlets:
        if greenlet.exception is not None:
            raise greenlet.exception
    return [bool(greenlet.value) for greenlet in greenlets]
