"""Load controllers on a fake clock: ramps at the spawn rate, stages, arrivals, drops, budgets.

The controllers (runtime.workload) drive a recording `LoadTarget`; the runner-level tests
run a whole plan on a FakeClock and FakeTransports. No socket, no real sleep.
"""

from __future__ import annotations

import math

import gevent
import pytest

from tests.fakes import FakeClock, FakeRun, plan_from_yaml, respond
from yamlswarm import plan as p
from yamlswarm.runtime.context import RunContext
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.workload import run_closed, run_open, run_stages, stage_target


class Target:
    """A LoadTarget that records what its controller asks for, and when (virtual seconds)."""

    def __init__(self, clock: FakeClock, budget: int | None = None) -> None:
        self.clock = clock
        self.start = clock.now()
        self.stopping = False
        self.stopped_at = math.inf
        self.active_users = 0
        self.added: list[float] = []
        self.retired: list[float] = []
        self.dispatched: list[tuple[float, float]] = []  # (when, due)
        self.dropped = 0
        self.pool = 0
        self.all_spawned_at: float | None = None
        self.budget = budget
        self.on_dispatch = lambda n: None

    def _t(self) -> float:
        return round(self.clock.now() - self.start, 6)

    def add_user(self) -> None:
        self.added.append(self._t())
        self.active_users += 1

    def retire_user(self) -> None:
        self.retired.append(self._t())
        self.active_users -= 1

    def all_spawned(self) -> None:
        self.all_spawned_at = self._t()

    def prepare_pool(self, size: int) -> None:
        self.pool = size

    def dispatch(self, due: float) -> None:
        self.dispatched.append((self._t(), round(due - self.start, 6)))
        self.on_dispatch(len(self.dispatched))

    def count_drop(self) -> None:
        self.dropped += 1

    def take_iteration(self) -> bool:
        if self.budget is None:
            return True
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True


def _ctx(clock: FakeClock, spawn_rate: float | None = None) -> RunContext:
    return RunContext(
        stats=Stats(clock=clock.wall),
        base=None,
        hooks=HookRunner(None),
        clock=clock,
        spawn_rate=spawn_rate,
    )


def _drive(controller, load, budget=None, spawn_rate=None) -> Target:
    clock = FakeClock()
    target = Target(clock, budget)
    clock.run(controller, load, _ctx(clock, spawn_rate), target)
    return target


# ----------------------------------------------------------------------------- closed models


def test_closed_model_starts_users_at_the_spawn_rate():
    target = _drive(run_closed, p.ClosedLoad(users=5, spawn_rate=2.0, duration=None))
    assert target.added == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert target.all_spawned_at == 2.0


def test_iterations_model_starts_all_users_at_once_unless_a_spawn_rate_is_given():
    load = p.IterationsLoad(iterations=10, users=3)
    assert _drive(run_closed, load).added == [0.0, 0.0, 0.0]
    assert _drive(run_closed, load, spawn_rate=1.0).added == [0.0, 1.0, 2.0]


def test_stages_go_up_and_down_along_the_target():
    stages = (p.Stage(10, 10), p.Stage(5, 10), p.Stage(10, 0))
    clock = FakeClock()
    target = Target(clock)
    samples: list[int] = []

    def sample() -> None:  # between two 0.1 s adjustments, once a second
        clock.sleep(0.05)
        for _ in range(26):
            samples.append(target.active_users)
            clock.sleep(1.0)

    sampler = gevent.spawn(sample)
    clock.run(run_stages, p.StagesLoad(stages), _ctx(clock), target)
    clock.run(sampler.join)
    assert samples[:25] == [stage_target(stages, t) for t in range(25)]
    assert max(samples) == 10 and samples[-1] == 0
    assert len(target.added) == 10 and len(target.retired) == 10
    assert target.all_spawned_at == 25.0


def test_a_stage_with_a_spawn_rate_moves_at_that_rate():
    target = _drive(run_stages, p.StagesLoad((p.Stage(5, 4, spawn_rate=2.0),)))
    assert target.added == [0.5, 1.0, 1.5, 2.0]


# ----------------------------------------------------------------------------- the open model


def test_arrivals_are_dispatched_when_due():
    target = _drive(run_open, p.ArrivalLoad((p.Phase(duration=2, rate=10),), max_users=5))
    assert target.pool == 5
    assert [due for _, due in target.dispatched] == pytest.approx([k / 10 for k in range(20)])
    assert all(when == pytest.approx(due) for when, due in target.dispatched)
    assert target.dropped == 0


def test_a_ramp_to_dispatches_along_the_integral_of_the_rate():
    target = _drive(run_open, p.ArrivalLoad((p.Phase(10, 0, ramp_to=10),), max_users=5))
    dues = [due for _, due in target.dispatched]
    assert len(dues) == 50
    assert dues == pytest.approx([(2 * k) ** 0.5 for k in range(50)])


def test_the_iterations_budget_ends_the_arrivals():
    load = p.ArrivalLoad((p.Phase(duration=10, rate=10),), max_users=5)
    target = _drive(run_open, load, budget=7)
    assert len(target.dispatched) == 7
    assert target.all_spawned_at == pytest.approx(0.7)  # the 8th arrival found no budget


def test_arrivals_due_when_the_run_stops_are_counted_as_dropped():
    """An arrival the run ended before starting is dropped, never silently lost."""
    clock = FakeClock()
    target = Target(clock)

    def stop_at_the_fifth(n: int) -> None:
        if n == 5:  # the run stops (say, its duration) with arrivals overdue
            target.stopping = True
            target.stopped_at = clock.now() + 0.525  # midway between two arrivals

    target.on_dispatch = stop_at_the_fifth
    load = p.ArrivalLoad((p.Phase(duration=2, rate=20),), max_users=10)
    clock.run(run_open, load, _ctx(clock), target)
    # 5 started; those due within the 0.525 s after the stop (0.25 .. 0.7 s) are dropped
    assert len(target.dispatched) == 5
    assert target.dropped == 10
    assert target.all_spawned_at is None


# ----------------------------------------------------------------------------- whole runs


def test_closed_run_ramps_holds_and_ends_at_its_duration(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {users: 10, spawn_rate: 2, duration: 60s}
        users:
          - name: u
            wait: {constant: 1s}
            flows: [{name: f, steps: [{get: /x}]}]
        """,
    )
    run = FakeRun(plan)
    runner = run.run()
    assert runner.stop_reason == "duration reached"
    assert runner.elapsed == pytest.approx(60.0)
    users = [row.users for row in runner.stats.timeline]
    assert users[:6] == [2, 4, 6, 8, 10, 10] and set(users[5:]) == {10}
    # user k starts at k/2 s and sends once a second until the 60th second
    assert len(run.sent) == runner.stats.iterations == 2 * sum(60 - k for k in range(5))
    assert all(t.closed == 1 for t in run.transports)


def test_stages_run_follows_the_stages(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load:
          stages: [{duration: 10s, users: 10}, {duration: 5s, users: 10}, {duration: 10s, users: 0}]
        users:
          - name: u
            wait: {constant: 1s}
            flows: [{name: f, steps: [{get: /x}]}]
        """,
    )
    runner = FakeRun(plan).run()
    users = [row.users for row in runner.stats.timeline]
    stages = plan.load.stages
    assert users == [stage_target(stages, t) for t in range(1, len(users) + 1)]
    assert max(users) == 10
    assert runner.elapsed == pytest.approx(25.0)


def test_open_run_drops_arrivals_while_every_user_is_busy(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {arrival: [{duration: 2s, rate: 10/s}], max_users: 3}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /slow}]}]
        """,
    )
    run = FakeRun(plan)

    def slow(request):
        run.clock.sleep(0.95)  # each iteration keeps its user busy for 0.95 s
        return respond(request)

    run._handler = slow
    runner = run.run()
    # 0.0, 0.1, 0.2 and 1.0, 1.1, 1.2 find a free user; the 14 others are dropped
    assert run.at() == pytest.approx([0.0, 0.1, 0.2, 1.0, 1.1, 1.2])
    assert runner.stats.dropped == 14
    row = runner.stats.row("/slow", "GET")
    assert row.requests == 6 and row.failures == 0
    assert row.lat.max_us == pytest.approx(950_000, abs=1)  # measured from when it was due


def test_the_iterations_budget_ends_a_run_exactly(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {iterations: 7, users: 3}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /x}]}]
        """,
    )
    run = FakeRun(plan)
    runner = run.run()
    assert runner.stop_reason in ("iterations done", "all users finished")
    assert runner.stats.iterations == len(run.sent) == 7


def test_an_iterations_cap_beside_a_closed_model(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {users: 2, spawn_rate: 10, duration: 1h, iterations: 5}
        users:
          - name: u
            wait: {constant: 10s}
            flows: [{name: f, steps: [{get: /x}]}]
        """,
    )
    run = FakeRun(plan)
    runner = run.run()
    assert runner.stop_reason == "iterations done"
    assert runner.stats.iterations == len(run.sent) == 5
    assert runner.elapsed == pytest.approx(20.0)  # 0, 0.1, 10, 10.1, 20


def test_same_seed_same_run(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {users: 4, spawn_rate: 4, duration: 30s}
        users:
          - name: u
            wait: {between: [1s, 3s]}
            flows:
              - {name: a, weight: 2, steps: [{get: "/a/{{ user.id }}"}]}
              - {name: b, weight: 1, steps: [{get: "/b/{{ user.id }}"}]}
        """,
    )
    first, second = FakeRun(plan), FakeRun(plan)
    first.run()
    second.run()
    assert first.urls() == second.urls() and first.at() == second.at()
    assert len(first.sent) > 40
