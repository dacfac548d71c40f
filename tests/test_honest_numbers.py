"""Honest numbers on a fake clock: schedule lag, on_start outside arrivals, isolation, the row cap,
stop accounting, successes apart from failures (issue 13)."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.fakes import FakeClock, FakeRun, plan_from_yaml, respond
from yamlswarm.runtime.health import HealthMonitor
from yamlswarm.runtime.stats import INTERRUPTED, OVERFLOW_SUFFIX, Stats
from yamlswarm.settings import RunSettings

OPEN_LOGIN = """
load: {arrival: [{duration: 5s, rate: 10/s}], max_users: 20}
users:
  - name: u
    on_start:
      - post: /login
    flows:
      - name: f
        steps:
          - get: /fast
"""


def _serving(run: FakeRun, latencies: dict[str, float]):
    def handler(request):
        path = request.url.split("?")[0]
        for suffix, seconds in latencies.items():
            if path.endswith(suffix):
                run.clock.sleep(seconds)
        return respond(request)

    return handler


def test_open_model_runs_on_start_before_arrivals_and_charges_no_login(tmp_path):
    """800 ms on_start, 2 ms endpoint: the first arrival of each user is not charged the login."""
    run = FakeRun(plan_from_yaml(tmp_path, OPEN_LOGIN))
    run._handler = _serving(run, {"/login": 0.8, "/fast": 0.002})
    runner = run.run()
    logins = [t for t, u in zip(run.at(), run.urls(), strict=True) if u.endswith("/login")]
    fast = [t for t, u in zip(run.at(), run.urls(), strict=True) if u.endswith("/fast")]
    assert len(logins) == 20 and max(logins) < 0  # every pooled user logged in before the load
    assert len(fast) == 50 and min(fast) == pytest.approx(0.0)
    result = runner.stats.snapshot(scenario="s", model={})
    row = next(r for r in result.requests if r.name == "/fast")
    assert row.latency_ms.p99 < 20.0 and row.latency_ms.max < 20.0
    assert result.schedule_lag_ms is not None and result.schedule_lag_ms["max"] < 1.0
    assert result.iterations == 50 and runner.stats.dropped == 0


def test_a_leading_think_is_not_latency(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {arrival: [{duration: 2s, rate: 5/s}], max_users: 10}
        users:
          - name: u
            flows: [{name: f, steps: [{think: 500ms}, {get: /x}]}]
        """,
    )
    run = FakeRun(plan)
    run._handler = _serving(run, {"/x": 0.002})
    row = run.run().stats.row("/x", "GET")
    assert row.requests == 8  # the arrivals at 1.6 s and 1.8 s were still thinking at the stop
    assert row.lat.min_us == row.lat.max_us == 2000  # not 502 ms


def test_schedule_lag_is_charged_to_the_first_request_only():
    """A user that starts an iteration 30 ms late: its first request carries the 30 ms, the
    second does not, and the lag is reported on its own."""
    from yamlswarm.runtime.user import VirtualUser

    clock = FakeClock()
    stats = Stats(clock=clock.wall)
    user = VirtualUser.__new__(VirtualUser)  # only the latency bookkeeping is exercised
    user._now, user._lag, user._requested = clock.now, None, False
    user._lag = 0.030
    clock.t += 1.0
    first = user.take_intended_start()
    second = user.take_intended_start()
    assert first == pytest.approx(clock.now() - 0.030) and second is None
    stats.schedule_lag(0.030)
    assert stats.lag is not None and stats.lag.summary()["max"] == pytest.approx(30.0, rel=1e-3)


def test_each_user_has_its_own_copy_of_list_variables_and_the_plan_stays(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        variables: {seen: []}
        load: {iterations: 6, users: 3}
        users:
          - name: u
            flows:
              - name: f
                steps:
                  - set: {ignored: "{{ seen.append(user.id) }}"}
                  - get: "/x?seen={{ seen | join(',') }}"
        """,
    )
    run = FakeRun(plan)
    run.run()
    for url in run.urls():
        user_id = url.split("=")[1].split(",")[0]
        assert set(url.split("=")[1].split(",")) == {user_id}  # only this user's own items
    assert plan.variables["seen"] == []  # the frozen plan is unchanged after the run


def test_hook_modules_are_imported_without_touching_sys_path(tmp_path):
    import sys

    from yamlswarm.hookmodules import load_hooks

    (tmp_path / "myhooks_numbers.py").write_text("def ping(user):\n    return None\n")
    before = list(sys.path)
    load_hooks((str(tmp_path / "myhooks_numbers.py"),))
    assert sys.path == before


def test_distinct_names_past_the_cap_go_to_one_overflow_row_with_one_warning():
    warnings: list[str] = []
    stats = Stats(clock=FakeClock().wall, max_rows=1000, warn=warnings.append)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for n in range(20_000):
        stats.row(f"/items/{n}", "GET", "/items/{{ id }}").success(0.001 + (n % 50) / 10_000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert len(stats.rows) == 1001
    overflow = stats.rows[("/items/{{ id }}" + OVERFLOW_SUFFIX, "GET")]
    assert overflow.requests == 19_000
    assert len(warnings) == 1 and "/items/{{ id }}" in warnings[0] and "name:" in warnings[0]
    assert grown < 12_000_000  # 1,000 rows, each a few kB, not 1,000 x 190 kB
    assert stats.snapshot(scenario="s", model={}).totals.requests == 20_000


def test_a_second_costs_the_same_with_many_idle_rows():
    stats = Stats(clock=FakeClock().wall)
    busy = stats.row("/busy", "GET")
    for n in range(900):
        stats.row(f"/idle/{n}", "GET").success(0.001)
    stats.tick(1)
    seconds = stats._second
    busy.success(0.002)
    stats.tick(1)
    assert stats._second is seconds  # every row still records into the same object: no walk
    assert stats.timeline[-1].rps > 0


def test_failures_have_their_own_histogram_and_do_not_pull_percentiles_down():
    stats = Stats(clock=FakeClock().wall)
    row = stats.row("/x", "GET")
    for _ in range(90):
        row.success(0.100)
    for _ in range(10):
        row.failure(0.0001, "connection refused")
    result = stats.snapshot(scenario="s", model={})
    (out,) = result.requests
    assert out.latency_ms.min == pytest.approx(100.0, rel=1e-3)
    assert out.failures_latency_ms is not None and out.failures_latency_ms.max == 0.1
    assert (out.requests, out.failures) == (100, 10)
    assert result.totals.failures_latency_ms == out.failures_latency_ms


def test_requests_stopped_in_flight_are_counted_as_interrupted_and_their_iterations(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {users: 4, spawn_rate: 100, duration: 2s}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /quick}, {get: /hang}]}]
        """,
    )
    from gevent.event import Event

    never = Event()  # a real wait the fake clock cannot skip: the request hangs for good

    def handler(request):
        if request.url.endswith("/hang"):
            never.wait()
        return respond(request)

    run = FakeRun(plan, RunSettings(seed=1, stop_timeout=0.2), handler=handler)
    runner = run.run()
    hang = runner.stats.row("/hang", "GET")
    assert len(run.sent) == 8  # each user: one /quick, one /hang that never answers
    assert hang.requests == 4 and hang.errors[INTERRUPTED][0] == 4
    # their requests were counted, so their iterations are too: apart, in no FLOW row
    assert (runner.stats.iterations, runner.stats.iterations_interrupted) == (0, 4)
    assert runner.stats.row("f", "FLOW").requests == 0
    result = runner.stats.snapshot(scenario="s", model={})
    assert result.totals.requests == len(run.sent)


def test_health_monitor_warns_once_when_the_cpu_is_saturated():
    clock = FakeClock()
    busy = {"cpu": 0.0}
    warnings: list[str] = []
    monitor = HealthMonitor(clock, cpu=lambda: busy["cpu"], warn=warnings.append)
    for _ in range(6):
        clock.t += 1.0
        busy["cpu"] += 0.97  # 97 % of each second on the CPU
        monitor.second()
    report = monitor.report()
    assert report["cpu_pct"] == pytest.approx(97.0) and report["saturated"]
    assert len(warnings) == 1 and "--processes" in warnings[0]


def test_health_monitor_measures_loop_lag_and_stays_quiet_when_idle():
    clock = FakeClock()
    warnings: list[str] = []
    monitor = HealthMonitor(clock, cpu=lambda: 0.0, warn=warnings.append)

    def main():
        import gevent

        ticker = gevent.spawn(monitor.run)
        for _ in range(5):
            clock.sleep(1.0)
            monitor.second()
        ticker.kill()

    clock.run(main)
    report = monitor.report()
    assert report["loop_lag_ms"]["max"] == 0.0 and not warnings and not report["saturated"]
    assert monitor.loop_lag.n >= 45
    assert report["loop_lag_ms_last"] == 0.0  # the last second's p99 (the web UI shows it)


def test_each_user_gets_its_own_copy_of_a_data_row():
    import random

    from yamlswarm import plan
    from yamlswarm.runtime.data import FeedState, UserData

    feed = plan.DataFeed("accounts", "/tmp/a.csv", ("username",), (("alice",),))
    state = FeedState(feed, random.Random(0), (0, 1))
    first, second = UserData({"accounts": state}), UserData({"accounts": state})
    first.start_user()
    first.accounts["username"] = "changed by a hook"
    second.start_user()
    assert second.accounts["username"] == "alice"
    assert state.acquire()[1]["username"] == "alice"  # the feed's row itself is untouched


def test_open_model_iterations_and_requests_agree_at_the_stop(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {arrival: [{duration: 2s, rate: 5/s}], max_users: 20}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /x}, {think: 3s}]}]
        """,
    )
    runner = FakeRun(plan).run()
    row = runner.stats.row("/x", "GET")
    assert row.requests == 10
    # every one was still thinking at the stop: none finished, none failed
    assert (runner.stats.iterations, runner.stats.iterations_interrupted) == (0, 10)
    assert runner.stats.row("f", "FLOW").requests == 0


def test_seconds_without_requests_have_no_percentiles_in_json_csv_and_html(tmp_path):
    import json

    from yamlswarm.export.files import CsvHistory
    from yamlswarm.export.sample import Sampler
    from yamlswarm.report.html import _bucket
    from yamlswarm.result import RunResult, TimelineRow

    clock = FakeClock(0.0, epoch=1_700_000_000.0)
    stats = Stats(clock=clock.wall)
    stats.row("/x", "GET").success(0.002)
    clock.t = 1.0
    stats.tick(1)
    clock.t = 2.0
    empty = stats.tick(1)
    assert (empty.p50, empty.p95, empty.p99) == (None, None, None)
    result = stats.snapshot(scenario="s", model={})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["timeline"][1]["p50"] is None
    assert RunResult.from_dict(data).timeline[1].p99 is None
    sampler = Sampler()
    sampler.sample(stats, 1, 1_700_000_001.0, 1.0)  # the first second (one request)
    second = sampler.sample(stats, 1, 1_700_000_002.0, 2.0)  # the empty one
    aggregated = CsvHistory.row(second, second.total)
    assert aggregated[-5:] == ["", "", "", "", ""]  # --csv's PREFIX_stats_history.csv
    assert "N/A" in aggregated and 0.0 not in aggregated[-5:]
    rows = [TimelineRow(t, 1, 0.0, 0.0) for t in range(1, 700)]
    assert all(r.p50 is None for r in _bucket(rows))  # a gap in the chart, not a 0
