"""`user.measure(...)` and `user.record(...)`: timing any client from hooks into first-class rows.

On a fake clock (no socket): success, failure by exception or by `fail()`, stop signals,
the open model's schedule lag, argument checks, content sizes, the exact merge of
exported stats; then the rows in the result (JSON, CSV) and thresholds naming them.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
from gevent import GreenletExit

from tests.compile_helpers import compile_text, problems, write_file
from tests.fakes import FakeClock, FakeTransport
from yamlswarm.report.files import write_csv, write_json
from yamlswarm.runtime.context import RunContext, RunState
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.signals import StopTest, StopUser
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.user import VirtualUser
from yamlswarm.runtime.usertypes import CompiledFlow, CompiledUserType


def _user(clock: FakeClock, stats: Stats, flow=None) -> VirtualUser:
    ctx = RunContext(
        stats=stats, base=None, hooks=HookRunner(None), clock=clock, state=RunState(None, clock.now)
    )
    flows = (CompiledFlow("f", (flow,), False, stats.row("f", "FLOW")),) if flow else ()
    kind = CompiledUserType(
        name="device", flows=flows, cumulative=(1,), on_start=(), on_stop=(), wait=None
    )
    return VirtualUser(ctx, kind, 1, 1, FakeTransport())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats() -> Stats:
    return Stats()


def test_measure_times_its_block_on_the_runs_clock(clock, stats):
    user = _user(clock, stats)
    for seconds in (0.010, 0.020, 0.030):
        with user.measure("publish", kind="MQTT"):
            clock.t += seconds
    row = stats.rows[("publish", "MQTT")]
    assert (row.requests, row.failures) == (3, 0)
    assert (row.lat.min_us, row.lat.max_us, row.lat.sum_us) == (10_000, 30_000, 60_000)
    assert ("publish", "CUSTOM") not in stats.rows  # the kind given is the row's method
    with user.measure("query"):
        pass
    assert stats.rows[("query", "CUSTOM")].requests == 1


def test_an_exception_inside_is_a_failure_with_its_message_and_is_re_raised(clock, stats):
    user = _user(clock, stats)
    with pytest.raises(ConnectionError, match="broker gone"):
        with user.measure("publish", kind="MQTT"):
            clock.t += 0.5
            raise ConnectionError("broker gone\nsecond line")
    row = stats.rows[("publish", "MQTT")]
    assert (row.requests, row.failures, row.lat.n) == (1, 1, 0)
    assert row.fail is not None and row.fail.max_us == 500_000  # failed latency kept apart
    assert list(row.errors) == ["ConnectionError: broker gone"]


def test_fail_marks_a_failure_without_raising_and_size_counts_bytes(clock, stats):
    user = _user(clock, stats)
    with user.measure("get", kind="REDIS") as m:
        m.size = 120
    with user.measure("get", kind="REDIS") as m:
        m.size = 30
        m.fail("wrong value")
    row = stats.rows[("get", "REDIS")]
    assert (row.requests, row.failures, row.size_bytes) == (2, 1, 150)
    assert list(row.errors) == ["wrong value"]


@pytest.mark.parametrize("signal", [StopUser(), StopTest("enough")])
def test_stop_signals_pass_through_unrecorded(clock, stats, signal):
    user = _user(clock, stats)
    with pytest.raises(type(signal)):
        with user.measure("publish", kind="MQTT") as m:
            m.size = 10
            raise signal
    assert stats.rows[("publish", "MQTT")].requests == 0
    assert stats.rows[("publish", "MQTT")].size_bytes == 0


def test_a_kill_inside_the_block_counts_as_interrupted(clock, stats):
    user = _user(clock, stats)
    with pytest.raises(GreenletExit):
        with user.measure("receive", kind="MQTT"):
            raise GreenletExit()
    assert list(stats.rows[("receive", "MQTT")].errors) == ["interrupted"]


def test_record_adds_an_exchange_the_caller_timed(clock, stats):
    user = _user(clock, stats)
    user.record("MQTT", "receive", 0.004, size=64)
    user.record("MQTT", "receive", 0.006, size=64)
    user.record("MQTT", "receive", 2.0, error="timeout")
    user.record("MQTT", "receive", 0.1, error=TimeoutError("no message in 0.1 s"))
    row = stats.rows[("receive", "MQTT")]
    assert (row.requests, row.failures, row.size_bytes) == (4, 2, 128)
    assert (row.lat.min_us, row.lat.max_us) == (4_000, 6_000)
    assert sorted(row.errors) == ["TimeoutError: no message in 0.1 s", "timeout"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("MQTT", "x", -0.001), "elapsed_s must be a finite number of seconds >= 0"),
        (("MQTT", "x", math.nan), "elapsed_s must be a finite number"),
        (("MQTT", "x", math.inf), "elapsed_s must be a finite number"),
        (("MQTT", "x", "0.1"), "not '0.1'"),
        (("MQTT", "x", None), "not None"),
        (("MQTT", "x", True), "not True"),
        (("MQTT", "", 0.1), "the row name must be a non-empty string"),
        (("", "x", 0.1), "kind must be a non-empty string"),
        ((None, "x", 0.1), "kind must be a non-empty string"),
        (("FLOW", "x", 0.1), "kind 'FLOW' is reserved"),
    ],
)
def test_record_rejects_bad_arguments_clearly(clock, stats, args, message):
    user = _user(clock, stats)
    with pytest.raises(ValueError, match=message):
        user.record(*args)
    assert not any(r.requests for r in stats.rows.values())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": -1}, "size must be a whole number of bytes >= 0"),
        ({"size": 1.5}, "size must be a whole number"),
        ({"error": ""}, "error must be a non-empty string or an exception"),
        ({"error": 42}, "error must be a non-empty string or an exception"),
    ],
)
def test_record_rejects_bad_sizes_and_errors(clock, stats, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _user(clock, stats).record("MQTT", "x", 0.1, **kwargs)


def test_measure_checks_its_row_when_it_is_made(clock, stats):
    user = _user(clock, stats, lambda u: True)  # its flow "f" has the row ("f", "FLOW")
    with pytest.raises(ValueError, match="kind 'GROUP' is reserved"):
        user.measure("x", kind="GROUP")
    with pytest.raises(ValueError, match="kind 'FLOW' is reserved"):
        user.record("FLOW", "f", 0.1)  # an existing step row is no way around the check
    with pytest.raises(ValueError, match="the row name must be a non-empty string, not 3"):
        user.measure(3)  # type: ignore[arg-type]


def test_open_model_the_first_timed_thing_of_an_iteration_is_charged_the_lag(clock, stats):
    """As request steps are: latency from when the iteration was due, service from the start."""

    def flow(user):
        with user.measure("publish", kind="MQTT"):
            clock.t += 0.010
        user.record("MQTT", "receive", 0.002)  # not the first: no lag
        return True

    user = _user(clock, stats, flow)
    user.run_arrival(clock.now() - 0.5)  # started half a second after it was due
    publish, receive = stats.rows[("publish", "MQTT")], stats.rows[("receive", "MQTT")]
    assert publish.lat.max_us == 510_000
    assert publish.service is not None and publish.service.max_us == 10_000
    assert receive.lat.max_us == 2_000 and receive.service is None

    def record_first(user):
        user.record("REDIS", "get", 0.003)
        return True

    user = _user(clock, stats, record_first)
    user.run_arrival(clock.now() - 0.25)
    row = stats.rows[("get", "REDIS")]
    assert row.lat.max_us == 253_000 and row.service.max_us == 3_000


def test_custom_rows_are_request_rows_in_totals_timeline_and_merge_exactly(clock, stats):
    user = _user(clock, stats)
    user.record("MQTT", "publish", 0.004, size=10)
    user.record("MQTT", "publish", 0.008, error="no PUBACK", size=0)
    other = Stats()
    _user(FakeClock(), other).record("MQTT", "publish", 0.006, size=32)
    merged = Stats()
    merged.merge(stats.export())
    merged.merge(other.export())
    row = merged.rows[("publish", "MQTT")]
    assert (row.requests, row.failures, row.size_bytes) == (3, 1, 42)
    assert (row.lat.min_us, row.lat.max_us) == (4_000, 6_000)
    result = merged.snapshot(scenario="s", model={}, duration_s=1.0)
    assert (result.totals.requests, result.totals.size_bytes) == (3, 42)
    assert merged._second.n == 3  # the current second: the timeline and live view count them
    exported = stats.export(reset=True)
    assert exported["rows"][0]["size"] == 10 and stats.rows[("publish", "MQTT")].size_bytes == 0


def test_sizes_in_the_json_and_the_locust_csv(tmp_path, clock, stats):
    user = _user(clock, stats)
    for size in (100, 200, 301):
        user.record("REDIS", "get", 0.001, size=size)
    user.record("MQTT", "publish", 0.001)
    result = stats.snapshot(scenario="s", model={}, duration_s=1.0)
    write_json(result, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    rows = {(r["method"], r["name"]): r for r in data["requests"]}
    assert rows[("REDIS", "get")]["size_bytes"] == {"total": 601, "mean": 200.3}
    assert rows[("MQTT", "publish")]["size_bytes"] == {"total": 0, "mean": 0.0}
    assert data["totals"]["size_bytes"] == {"total": 601, "mean": 150.2}
    write_csv(result, tmp_path / "r")
    with open(tmp_path / "r_stats.csv", newline="") as handle:
        table = {row["Name"]: row for row in csv.DictReader(handle)}
    assert table["get"]["Type"] == "REDIS" and table["get"]["Average Content Size"] == "200"
    assert table["Aggregated"]["Average Content Size"] == "150"


# ----------------------------------------------------------------------------- thresholds


_THRESHOLD_ON_HOOK_ROWS = """
users:
  - flows:
      - steps:
          - get: /
thresholds:
  - "MQTT publish: p95 < 50"
  - "receive: error_rate < 1%"
"""


def test_thresholds_may_name_rows_only_hooks_create_when_there_are_hooks(tmp_path):
    write_file(tmp_path, "def on_user_start(user):\n    pass\n")
    plan = compile_text(tmp_path, "hooks: hooks.py\n" + _THRESHOLD_ON_HOOK_ROWS)
    assert [t.row for t in plan.thresholds] == ["MQTT publish", "receive"]


def test_without_hooks_such_a_threshold_is_still_an_error(tmp_path):
    found = problems(tmp_path, _THRESHOLD_ON_HOOK_ROWS)
    assert [path for path, _ in found] == ["thresholds[0]", "thresholds[1]"]
    assert "is no request, group or flow of this scenario" in found[0][1]
