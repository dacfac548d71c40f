"""The local runner: builds users from a plan, drives the load model, ticks stats, stops cleanly."""

from __future__ import annotations

import bisect
import itertools
import random
import signal
import sys
import time
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import gevent
from gevent.event import Event

from yamlswarm import plan as p
from yamlswarm.runtime.context import BuildEnv, Executor
from yamlswarm.runtime.data import FeedState, UserData
from yamlswarm.runtime.fake import make_faker
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.http.message import Origin, parse_origin
from yamlswarm.runtime.slo import first_abort
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.steps import build_steps
from yamlswarm.runtime.user import UserInfo, VirtualUser
from yamlswarm.runtime.workload import CONTROLLERS, model_duration, peak_users
from yamlswarm.settings import RunSettings
from yamlswarm.templates import base_context

WaitFunction = Callable[[random.Random, float], float]


@dataclass(frozen=True)
class CompiledFlow:
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


class Runner:
    """Runs one compiled plan in this process."""

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
    ) -> None:
        """`partition` (index, count): this process's share of `order: unique` data rows;
        `trace`: called after every request with (user, step, response, error) (--trace)."""
        self.plan = plan
        self.settings = settings
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stats = stats or Stats()
        self.hooks = hooks or HookRunner(None)
        self.live = live
        self.base: Origin | None = parse_origin(plan.host) if plan.host else None
        self.rng = random.Random(settings.seed)
        self.faker = make_faker(plan.faker_locale, settings.seed)
        self.feeds = {
            feed.name: FeedState(feed, random.Random(self.rng.random()), partition)
            for feed in plan.data
        }
        self.env = ChainMap(dict(settings.env), _EnvView())
        self.template_functions = self.hooks.template_functions
        build_env = BuildEnv(
            stats=self.stats, base=self.base, hooks=self.hooks, trace=trace, log=self._log
        )
        self.build_env = build_env
        self.user_types = tuple(self._compile_user_type(t) for t in plan.users)
        self.users: list[VirtualUser] = []  # running closed-model users, in spawn order
        self._spawned: list[VirtualUser] = []
        self._order = distribute(plan.users, peak_users(plan.load))  # exact mix at the peak
        self._retiring: list[VirtualUser] = []
        self._pool: list[VirtualUser] = []  # open model: idle users
        self._busy_pool: set[VirtualUser] = set()  # open model: users inside an iteration
        self.pool_size = 0
        self._all_spawned = False
        self.stopping = False
        self.stopped_at = float("inf")  # perf_counter time of stop()
        self.stop_reason: str | None = None
        self.interrupted = False
        self.aborted: str | None = None
        self._done = Event()
        self._next_id = itertools.count(1)
        self._budget = self._iteration_budget_of(plan)  # None: no limit on iterations
        self._iterations_left = self._budget
        self._iterations_finished = 0
        self.started_at = 0.0
        self.started_wall = 0.0

    # -- building ----------------------------------------------------------------

    def _compile_user_type(self, kind: p.UserType) -> CompiledUserType:
        flows = tuple(
            CompiledFlow(
                f.name,
                build_steps(f.steps, self.build_env),
                f.stop_on_failure,
                self.stats.row(f.name, "FLOW"),
            )
            for f in kind.flows
        )
        cumulative = tuple(itertools.accumulate(f.weight for f in kind.flows))
        return CompiledUserType(
            name=kind.name,
            flows=flows,
            cumulative=cumulative,
            on_start=build_steps(kind.on_start, self.build_env),
            on_stop=build_steps(kind.on_stop, self.build_env),
            wait=wait_function(kind.wait),
        )

    def new_user_data(self) -> UserData:
        return UserData(self.feeds)

    def new_context(self, user: VirtualUser) -> dict[str, Any]:
        ctx = base_context()
        ctx.update(self.template_functions)
        ctx.update(self.plan.variables)
        ctx.update(
            faker=self.faker,
            env=self.env,
            user=UserInfo(user.id, user.name),
            data=user.data,
            iteration=0,
        )
        return ctx

    def _log(self, line: str) -> None:
        print(line, file=self.err, flush=True)

    # -- iterations budget ---------------------------------------------------------

    @staticmethod
    def _iteration_budget_of(plan: p.Plan) -> int | None:
        if isinstance(plan.load, p.IterationsLoad):
            return plan.load.iterations
        return plan.iterations_cap

    def take_iteration(self) -> bool:
        if self._iterations_left is None:
            return True
        if self._iterations_left <= 0:
            return False
        self._iterations_left -= 1
        return True

    def iteration_finished(self) -> None:
        self._iterations_finished += 1
        budget = self._budget
        if budget is not None and self._iterations_finished >= budget:
            self.stop("iterations done")

    # -- users -------------------------------------------------------------------

    def _new_user(self) -> VirtualUser:
        """The next user in spawn order (so any prefix of users has the scenario's mix)."""
        position = len(self._spawned)
        if position >= len(self._order):  # stages ramping up again after a ramp down
            self._order.extend(self._order or distribute(self.plan.users, 1))
        user = VirtualUser(
            self,
            self.user_types[self._order[position]],
            next(self._next_id),
            self.rng.getrandbits(64),
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
                    from yamlswarm.runtime.signals import StopUser

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
        """Open model: `size` users ready for arrivals (on_start runs at a user's first arrival)."""
        self._pool = [self._new_user() for _ in range(size)]
        self.pool_size = size

    def dispatch(self, due: float) -> None:
        """Open model: start one iteration due at `due` (perf_counter), or count it dropped."""
        if not self._pool:
            self.stats.dropped += 1
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
        if not self.stopping:
            self.stopped_at = time.perf_counter()
            self.stopping = True
            self.stop_reason = reason
            self._done.set()

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
        from yamlswarm.runtime.signals import StopUser

        running = [*self.users, *self._retiring, *self._busy_pool]
        greenlets = [u.greenlet for u in running if u.greenlet is not None]
        for user in running:
            # a sleeping user is interrupted where it sleeps; one in a request finishes it
            # first and then stops by itself (steps._after)
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
        CONTROLLERS[type(self.plan.load)](self, self.plan.load)

    def _duration(self) -> float | None:
        if self.settings.duration is not None:
            return self.settings.duration
        return model_duration(self.plan.load)

    def _ticker(self) -> None:
        duration = self._duration()
        aborting = tuple(t for t in self.plan.thresholds if t.abort)
        next_tick = self.started_at + 1.0
        while not self.stopping:
            gevent.sleep(max(0.0, next_tick - time.perf_counter()))
            next_tick += 1.0
            self.stats.tick(self.active_users)
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

    # -- run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until the model ends, the duration passes, iterations run out or Ctrl-C."""
        self.started_at = time.perf_counter()
        self.started_wall = time.time()
        self.stats.start()
        handlers = _install_signals(self.interrupt)
        failure = (
            self.hooks.call_each(self.hooks.on_test_start, self)
            if self.hooks.on_test_start
            else None
        )
        if failure:
            print(f"on_test_start failed: {failure}", file=self.err)
        control = gevent.spawn(self._control)
        ticker = gevent.spawn(self._ticker)
        try:
            self._done.wait()
        finally:
            control.join(timeout=2.0)  # controllers return promptly once stopping is set
            control.kill(block=True)
            self._stop_users()
            ticker.kill(block=True)
            self.stats.tick(self.active_users)
            _restore_signals(handlers)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at


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
