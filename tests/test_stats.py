"""Tests of yamlswarm.runtime.stats: exact counts, HDR percentiles, timeline, errors, merging."""

from __future__ import annotations

import random
import timeit

import msgpack
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from yamlswarm.runtime.hdr import HIGHEST_US, index_of
from yamlswarm.runtime.stats import Stats


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _feed(row, values_us, *, fail_every: int = 0) -> None:
    for i, us in enumerate(values_us):
        if fail_every and i % fail_every == 0:
            row.failure(us / 1e6, "HTTP 500", example=f"500 #{i}")
        else:
            row.success(us / 1e6)


def test_fast_index_matches_the_library():
    hist = HdrHistogram(1, HIGHEST_US, 3)
    rng = random.Random(7)
    values = list(range(5000)) + [rng.randint(0, HIGHEST_US) for _ in range(20000)]
    for us in [*values, HIGHEST_US, 2**20, 2**20 - 1, 2**31]:
        assert index_of(us) == hist._counts_index_for(us), us


def test_uniform_values_give_exact_counts_and_accurate_percentiles():
    stats = Stats(clock=FakeClock())
    row = stats.row("/items", "GET")
    _feed(row, range(1, 10001))
    lat = stats.snapshot(scenario="s", model={"kind": "closed"}, duration_s=10).requests[0]
    assert (lat.requests, lat.failures, lat.rps) == (10000, 0, 1000.0)
    ms = lat.latency_ms
    assert ms.min == 0.001 and ms.max == 10.0
    assert ms.mean == pytest.approx(5.0005, abs=0.0005)  # exact sum, not bucket midpoints
    for value, true in [
        (ms.p50, 5.0),
        (ms.p90, 9.0),
        (ms.p95, 9.5),
        (ms.p99, 9.9),
        (ms.p99_9, 9.99),
    ]:
        assert value == pytest.approx(true, rel=0.001)


def test_percentiles_are_clamped_to_the_exact_min_and_max():
    stats = Stats(clock=FakeClock())
    row = stats.row("/one", "GET")
    row.success(0.012345)  # HDR's highest equivalent value of 12345 µs is 12351 µs
    ms = stats.snapshot(scenario="s", model={}).requests[0].latency_ms
    assert {ms.min, ms.mean, ms.p50, ms.p90, ms.p95, ms.p99, ms.p99_9, ms.max} == {12.345}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=HIGHEST_US), min_size=1, max_size=300))
def test_percentiles_never_leave_min_max(values):
    stats = Stats(clock=FakeClock())
    _feed(stats.row("/r", "GET"), values)
    ms = stats.snapshot(scenario="s", model={}).totals.latency_ms
    lo, hi = round(min(values) / 1000, 3), round(max(values) / 1000, 3)
    assert (ms.min, ms.max) == (lo, hi)
    for p in (ms.p50, ms.p90, ms.p95, ms.p99, ms.p99_9):
        assert lo <= p <= hi


def test_out_of_range_latencies_are_clamped():
    stats = Stats(clock=FakeClock())
    row = stats.row("/r", "GET")
    row.success(-0.5)
    row.success(7200.0)
    ms = stats.snapshot(scenario="s", model={}).requests[0].latency_ms
    assert ms.min == 0.0 and ms.max == HIGHEST_US / 1000


def test_rows_are_cached_sorted_and_groups_stay_out_of_totals():
    stats = Stats(clock=FakeClock())
    b = stats.row("/b", "GET")
    assert stats.row("/b", "GET") is b
    stats.row("/a", "POST").success(0.002)
    b.success(0.004)
    stats.row("checkout", "GROUP").success(0.010)
    stats.row("sign", "CALL").failure(0.020, "ValueError: bad key")
    stats.row("set token", "SET").failure(0.0, "undefined name 'x'")
    result = stats.snapshot(scenario="s", model={}, duration_s=2)
    assert [(r.name, r.method) for r in result.requests] == [
        ("/a", "POST"),
        ("/b", "GET"),
        ("checkout", "GROUP"),
        ("set token", "SET"),
        ("sign", "CALL"),
    ]
    assert (result.totals.requests, result.totals.failures) == (2, 0)
    assert (result.totals.latency_ms.min, result.totals.latency_ms.max) == (2.0, 4.0)
    assert result.totals.rps == 1.0
    assert len(result.errors) == 2  # step errors are still reported
    assert stats.tick(users=1).rps == 2.0  # the timeline counts requests only


def test_select_and_aggregate_answer_any_percentile_of_a_row():
    stats = Stats(clock=FakeClock())
    _feed(stats.row("/p", "GET"), range(1, 1001))
    _feed(stats.row("/p", "POST"), [5000] * 10, fail_every=2)
    _feed(stats.row("/q", "GET"), [9000])
    assert [r.method for r in stats.select("/p")] == ["GET", "POST"]
    assert [r.name for r in stats.select("GET /q")] == ["/q"]
    assert len(stats.select(None)) == 3 and stats.select("nope") == []
    lat, service, failures = stats.aggregate(stats.select("/p"))
    assert (lat.n, failures, service) == (1010, 5, None)
    assert lat.percentile_ms(99.99) == 5.0
    assert lat.percentile_ms(50) == pytest.approx(0.505, rel=0.001)


def test_errors_are_grouped_with_first_last_and_example():
    clock = FakeClock(1000.0)
    stats = Stats(clock=clock)
    row = stats.row("/pay", "POST")
    clock.now = 1001.5
    row.failure(0.01, "HTTP 500", example="first body")
    clock.now = 1003.25
    row.failure(0.02, "HTTP 500", example="second body")
    row.failure(0.03, "ConnectionRefused")
    row.success(0.04)
    result = stats.snapshot(scenario="s", model={})
    assert result.requests[0].requests == 4 and result.requests[0].failures == 3
    assert result.totals.failures == 3
    first = result.errors[0]
    assert (first.error, first.count, first.first_seen, first.last_seen, first.example) == (
        "HTTP 500",
        2,
        1.5,
        3.25,
        "first body",
    )
    assert (result.errors[1].error, result.errors[1].count) == ("ConnectionRefused", 1)


def test_checks_are_listed_even_when_they_never_failed():
    stats = Stats(clock=FakeClock())
    stats.register_check("/a", "GET", "status 200")
    stats.register_check("/a", "GET", "jmespath length(x) > 0")
    row = stats.row("/a", "GET")
    row.failure(0.001, "check failed: status 200")
    row.failure(0.001, "check failed: status 200")
    checks = {
        (c.name, c.method, c.check): c.failures
        for c in stats.snapshot(scenario="s", model={}).checks
    }
    assert checks == {("/a", "GET", "status 200"): 2, ("/a", "GET", "jmespath length(x) > 0"): 0}


def test_timeline_rows_per_second_with_a_fake_clock():
    clock = FakeClock(0.0)
    stats = Stats(clock=clock)
    row = stats.row("/t", "GET")
    _feed(row, [1000] * 9 + [5000], fail_every=5)  # 2 failures in 10 requests
    clock.now = 1.0
    first = stats.tick(users=4)
    clock.now = 2.0
    empty = stats.tick(users=5)
    row.success(0.003)
    clock.now = 2.5  # a final partial second
    last = stats.tick(users=5)
    assert (first.t, first.users, first.rps, first.failures_per_s) == (1, 4, 10.0, 2.0)
    assert first.p50 == 1.0 and first.p99 == 5.0
    assert (empty.t, empty.rps, empty.p50, empty.p95, empty.p99) == (2, 0.0, None, None, None)
    assert (last.t, last.rps, last.p50) == (3, 2.0, 3.0)
    result = stats.snapshot(scenario="s", model={})
    assert [r.t for r in result.timeline] == [1, 2, 3]
    assert result.duration_s == 2.5
    assert result.requests[0].requests == 11  # the rows keep everything


def test_live_view_uses_the_last_ten_seconds():
    clock = FakeClock(0.0)
    stats = Stats(clock=clock)
    row = stats.row("/l", "GET")
    row.success(0.500)  # only in second 1, which leaves the window later
    for second in range(1, 12):
        row.success(0.010)
        clock.now = float(second)
        stats.tick(users=3)
    stats.dropped = 2
    view = stats.live_view(users=3, duration_s=60)
    assert (view.elapsed_s, view.duration_s, view.users, view.dropped) == (11.0, 60, 3, 2)
    assert (view.requests, view.failures, view.rps) == (12, 0, 1.0)
    assert view.p50 == view.p99 == 10.0


def test_counters_and_service_time_only_when_used():
    stats = Stats(clock=FakeClock())
    closed = stats.row("/closed", "GET")
    closed.success(0.010)
    opened = stats.row("/open", "GET")
    opened.success(0.050, service_s=0.020)
    opened.failure(0.070, "Timeout", service_s=0.040)
    stats.iteration_done()
    stats.iteration_done()
    stats.dropped += 3
    result = stats.snapshot(scenario="s", model={})
    closed_row, open_row = result.requests
    assert closed_row.service_ms is None
    assert (open_row.service_ms.min, open_row.service_ms.max) == (20.0, 40.0)
    assert (open_row.latency_ms.min, open_row.latency_ms.max) == (50.0, 50.0)  # successes
    assert open_row.failures_latency_ms.max == 70.0  # the failure is apart
    assert result.totals.service_ms.p50 == pytest.approx(20.0, rel=0.001)
    assert (result.iterations, result.dropped) == (2, 3)


def _fed_stats(values, clock, errors_at) -> Stats:
    stats = Stats(clock=clock)
    row = stats.row("/m", "GET")
    for i, us in enumerate(values):
        if i in errors_at:
            row.failure(us / 1e6, "HTTP 503", service_s=us / 2e6, example=f"ex{i}")
        else:
            row.success(us / 1e6, service_s=us / 2e6)
    stats.register_check("/m", "GET", "status 200")
    return stats


def test_merge_round_trip_equals_one_histogram_fed_everything():
    rng = random.Random(11)
    values = [int(rng.lognormvariate(9, 1.2)) + 1 for _ in range(20000)]
    clock = FakeClock(50.0)
    whole = _fed_stats(values, clock, errors_at={5, 15000})
    a = _fed_stats(values[:7000], clock, errors_at={5})
    b = _fed_stats(values[7000:], clock, errors_at={8000})
    b.iteration_done()
    a.iteration_interrupted()
    b.iteration_interrupted()
    b.dropped = 4
    merged = Stats(clock=clock)
    for part in (a, b):
        merged.merge(msgpack.unpackb(msgpack.packb(part.export())))
    want = whole.snapshot(scenario="s", model={}, duration_s=10)
    got = merged.snapshot(scenario="s", model={}, duration_s=10)
    assert got.requests == want.requests
    assert got.totals == want.totals
    assert got.checks == want.checks
    assert [(e.error, e.count) for e in got.errors] == [("HTTP 503", 2)]
    assert (got.iterations, got.iterations_interrupted, got.dropped) == (1, 2, 4)
    # the current second travels too: the merged first timeline row counts everything
    clock.now = 51.0
    assert merged.tick(users=2).rps == whole.tick(users=2).rps == 20000.0


def test_export_with_reset_zeroes_numbers_but_keeps_rows_usable():
    stats = Stats(clock=FakeClock())
    row = stats.row("/d", "GET")
    row.failure(0.002, "HTTP 500")
    stats.iteration_done()
    stats.iteration_interrupted()
    first = stats.export(reset=True)
    assert first["rows"][0]["fail"]["n"] == 1 and first["iterations"] == 1
    assert first["iterations_interrupted"] == 1 and stats.iterations_interrupted == 0
    row.success(0.004)
    second = stats.export(reset=True)
    (item,) = second["rows"]
    assert (item["lat"]["n"], item["failures"], item["errors"], second["iterations"]) == (
        1,
        0,
        [],
        0,
    )
    total = Stats(clock=FakeClock())
    total.merge(first)
    total.merge(second)
    merged = total.snapshot(scenario="s", model={}).requests[0]
    assert (merged.requests, merged.failures, merged.latency_ms.min, merged.latency_ms.max) == (
        2,
        1,
        4.0,  # the successes' latency; the failure's is apart
        4.0,
    )
    assert merged.failures_latency_ms.max == 2.0


def test_merge_refuses_an_unknown_version():
    with pytest.raises(ValueError, match="version"):
        Stats().merge({"version": 99})


def test_success_cost_is_a_few_microseconds():
    row = Stats().row("/fast", "GET")
    per_call = min(timeit.repeat(lambda: row.success(0.0123), number=20000, repeat=3)) / 20000
    assert per_call < 50e-6  # a loose bound against accidental O(n) work; ~1.2 µs measured
