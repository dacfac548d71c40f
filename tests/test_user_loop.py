"""The virtual user's loop on a fake clock and a fake transport: no socket, no real sleep.

Iterations, flows by weight, stop_on_failure, on_start / on_stop, the four waits and
think steps, a graceful stop during a request, and `user.request(...)` for hooks.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.fakes import FakeClock, FakeRun, FakeTransport, plan_from_yaml, respond
from yamlswarm.runtime.context import RunContext, RunState
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.signals import StopUser
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.user import VirtualUser
from yamlswarm.runtime.usertypes import CompiledFlow, CompiledUserType, wait_function


def _run(tmp_path, text, handler=None):
    run = FakeRun(plan_from_yaml(tmp_path, text))
    if handler is not None:
        run._handler = lambda request: handler(run, request)
    return run, run.run()


def _slow(seconds):
    def handler(run, request):
        run.clock.sleep(seconds)
        return respond(request)

    return handler


# ----------------------------------------------------------------------------- the loop alone


def _user(clock, stats, flows, *, budget, on_start=(), on_stop=(), wait=None, hooks=None):
    ctx = RunContext(
        stats=stats,
        base=None,
        hooks=hooks or HookRunner(None),
        clock=clock,
        state=RunState(budget, clock.now),
    )
    kind = CompiledUserType(
        name="shopper",
        flows=tuple(flows),
        cumulative=tuple(range(1, len(flows) + 1)),
        on_start=on_start,
        on_stop=on_stop,
        wait=wait_function(wait),
    )
    transport = FakeTransport()
    return VirtualUser(ctx, kind, 7, 42, transport), transport


def test_the_loop_runs_on_start_iterations_until_the_budget_then_on_stop():
    clock, stats, events = FakeClock(), Stats(), []

    def flow(user):
        events.append(("flow", user.iteration, clock.now()))
        user.sleep(0.5)
        return True

    hooks = HookRunner(None)
    hooks.on_user_start = [lambda user: events.append("user_start")]
    hooks.on_user_stop = [lambda user: events.append("user_stop")]
    user, transport = _user(
        clock,
        stats,
        [CompiledFlow("f", (flow,), False, stats.row("f", "FLOW"))],
        budget=3,
        on_start=(lambda u: events.append("on_start") or True,),
        on_stop=(lambda u: events.append("on_stop") or True,),
        hooks=hooks,
    )
    clock.run(user.run)
    assert events == [
        "user_start",
        "on_start",
        ("flow", 1, 1000.0),
        ("flow", 2, 1000.5),
        ("flow", 3, 1001.0),
        "on_stop",
        "user_stop",
    ]
    assert stats.iterations == 3 and stats.row("f", "FLOW").requests == 3
    assert user.ctx.state.stop_reason == "iterations done"
    assert not user.alive and transport.closed == 1
    assert user.vars["iteration"] == 3 and user.vars["user"].id == 7


def test_a_failed_flow_is_a_failed_transaction_and_stop_user_ends_the_loop():
    clock, stats = FakeClock(), Stats()
    calls = []

    def flow(user):
        calls.append(user.iteration)
        if user.iteration == 3:
            raise StopUser()
        return False

    user, _ = _user(
        clock, stats, [CompiledFlow("f", (flow,), False, stats.row("f", "FLOW"))], budget=None
    )
    clock.run(user.run)
    assert calls == [1, 2, 3]
    row = stats.row("f", "FLOW")
    assert row.requests == 2 and row.failures == 2  # the third never finished
    assert "a step of the flow failed" in row.errors


def test_flows_are_picked_by_weight_with_the_users_seeded_rng():
    clock, stats = FakeClock(), Stats()
    picked = []
    flows = [
        CompiledFlow(
            name, (lambda user, n=name: picked.append(n) or True,), False, stats.row(name, "FLOW")
        )
        for name in ("a", "b")
    ]
    user, _ = _user(clock, stats, flows, budget=2000)
    user.kind = CompiledUserType("t", tuple(flows), (3.0, 4.0), (), (), None)  # 3 : 1
    clock.run(user.run)
    counts = Counter(picked)
    assert counts["a"] + counts["b"] == 2000
    assert 1400 < counts["a"] < 1600
    # the same seed picks the same sequence
    rng = random.Random(42)
    assert picked[:50] == [
        user.kind.flows[0 if rng.random() * 4 < 3 else 1].name for _ in range(50)
    ]


def test_user_request_for_hooks_is_recorded_on_the_clock():
    clock, stats = FakeClock(), Stats()
    user, transport = _user(clock, stats, [], budget=0)

    def handler(request):
        clock.sleep(0.25)
        return respond(request, 201)

    transport.handler = handler
    response = clock.run(lambda: user.request("post", "/orders", name="orders", json={"n": 1}))
    assert response.status == 201 and response.elapsed == pytest.approx(0.25)
    sent = transport.sent[0]
    # the body encoded as a step's `json:` is
    assert (sent.method, sent.url, sent.body) == ("POST", "/orders", b'{"n":1}')
    assert ("Content-Type", "application/json") in sent.headers
    row = stats.row("orders", "POST")
    assert row.requests == 1 and row.failures == 0 and row.lat.max_us == 250_000


# ----------------------------------------------------------------------------- whole users


def test_flows_by_weight_in_a_run(tmp_path):
    run, runner = _run(
        tmp_path,
        """
        load: {iterations: 400, users: 2}
        users:
          - name: u
            flows:
              - {name: a, weight: 3, steps: [{get: /a}]}
              - {name: b, weight: 1, steps: [{get: /b}]}
        """,
    )
    counts = Counter(run.urls())
    assert counts["http://fake.test/a"] + counts["http://fake.test/b"] == 400
    assert 270 <= counts["http://fake.test/a"] <= 330
    assert runner.stats.row("a", "FLOW").requests == counts["http://fake.test/a"]


@pytest.mark.parametrize("stop_on_failure,sent_after", [(True, 0), (False, 3)])
def test_stop_on_failure_ends_the_iteration_at_the_failed_step(
    tmp_path, stop_on_failure, sent_after
):
    run, runner = _run(
        tmp_path,
        f"""
        load: {{iterations: 3, users: 1}}
        users:
          - name: u
            flows:
              - name: f
                stop_on_failure: {str(stop_on_failure).lower()}
                steps: [{{get: /fail}}, {{get: /after}}]
        """,
        lambda run, request: respond(request, 500 if request.url.endswith("/fail") else 200),
    )
    assert Counter(run.urls()) == {
        "http://fake.test/fail": 3,
        **({"http://fake.test/after": 3} if sent_after else {}),
    }
    assert runner.stats.row("/fail", "GET").failures == 3
    assert runner.stats.row("f", "FLOW").failures == 3


def test_on_start_runs_first_and_on_stop_last_for_every_user(tmp_path):
    run, runner = _run(
        tmp_path,
        """
        load: {users: 3, spawn_rate: 3, duration: 10s}
        users:
          - name: u
            wait: {constant: 1s}
            on_start: [{get: "/login/{{ user.id }}"}]
            flows: [{name: f, steps: [{get: "/browse/{{ user.id }}"}]}]
            on_stop: [{get: "/logout/{{ user.id }}"}]
        """,
    )
    for uid in (1, 2, 3):
        mine = [url for url in run.urls() if url.endswith(f"/{uid}")]
        assert mine[0] == f"/login/{uid}" and mine[-1] == f"/logout/{uid}"
        assert mine.count(f"/login/{uid}") == mine.count(f"/logout/{uid}") == 1
        assert len(mine) == 12  # started at 0, 1/3 and 2/3 s: 10 iterations each in 10 s
    assert runner.stop_reason == "duration reached"


@pytest.mark.parametrize(
    "wait,starts",
    [
        ("{constant: 1s}", [0.0, 1.3, 2.6, 3.9]),  # after the iteration
        ("{pacing: 2s}", [0.0, 2.0, 4.0, 6.0]),  # start to start
        ("{throughput: 0.5/s}", [0.0, 2.0, 4.0, 6.0]),  # 0.5 iterations/s per user
    ],
)
def test_waits_between_iterations(tmp_path, wait, starts):
    run, _ = _run(
        tmp_path,
        f"""
        load: {{iterations: 4, users: 1}}
        users:
          - name: u
            wait: {wait}
            flows: [{{name: f, steps: [{{get: /x}}]}}]
        """,
        _slow(0.3),
    )
    assert run.at() == pytest.approx(starts)


def test_wait_between_is_uniform_in_its_bounds_and_seeded(tmp_path):
    text = """
        load: {iterations: 30, users: 1}
        users:
          - name: u
            wait: {between: [1s, 3s]}
            flows: [{name: f, steps: [{get: /x}]}]
        """
    first, _ = _run(tmp_path, text)
    second, _ = _run(tmp_path, text)
    gaps = [b - a for a, b in zip(first.at(), first.at()[1:], strict=False)]
    assert all(1.0 <= gap <= 3.0 for gap in gaps)
    assert len({round(gap, 3) for gap in gaps}) > 20  # random, not constant
    assert first.at() == second.at()


def test_think_pauses_inside_a_flow(tmp_path):
    run, runner = _run(
        tmp_path,
        """
        load: {iterations: 2, users: 1}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /a}, {think: 2s}, {get: /b}]}]
        """,
        _slow(0.1),
    )
    assert run.at() == pytest.approx([0.0, 2.1, 2.2, 4.3])
    assert runner.stats.row("f", "FLOW").lat.max_us == 2_200_000


def test_a_request_in_flight_when_the_run_stops_finishes_and_is_counted(tmp_path):
    run, runner = _run(
        tmp_path,
        """
        load: {users: 1, spawn_rate: 1, duration: 2s}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /slow}, {get: /never}]}]
            on_stop: [{get: /logout}]
        """,
        _slow(5.0),
    )
    assert runner.stop_reason == "duration reached"
    assert run.urls() == ["http://fake.test/slow", "http://fake.test/logout"]
    row = runner.stats.row("/slow", "GET")
    assert row.requests == 1 and row.failures == 0 and row.lat.max_us == 5_000_000
