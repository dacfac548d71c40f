"""Threshold evaluation on statistics fed with known values and a fake clock."""

from __future__ import annotations

import pytest

from yamlswarm import plan as p
from yamlswarm.runtime.slo import evaluate, first_abort, measure
from yamlswarm.runtime.stats import Stats
from yamlswarm.thresholds import parse_threshold


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _threshold(text: str, **kw) -> p.Threshold:
    row, metric, op, value = parse_threshold(text)
    return p.Threshold(text, metric, op, value, row=row, **kw)


@pytest.fixture
def stats():
    clock = FakeClock()
    stats = Stats(clock=clock)
    fast = stats.row("/fast", "GET")
    for ms in range(1, 101):  # 1 .. 100 ms
        fast.success(ms / 1000)
    slow = stats.row("/slow", "POST")
    for _ in range(8):
        slow.success(0.5)
    for _ in range(2):
        slow.failure(2.0, "HTTP 500")
    stats.row("browse", "FLOW").success(3.0)
    stats.iterations = 7
    stats.dropped = 3
    return stats


@pytest.mark.parametrize(
    "text,value",
    [
        ("/fast: p50 < 1s", 50.0),
        ("/fast: p90 < 1s", 90.0),
        ("/fast: p99.9 < 1s", 100.0),
        ("/fast: max < 1s", 100.0),
        ("/fast: min < 1s", 1.0),
        ("/fast: avg < 1s", 50.5),
        ("requests > 0", 110.0),
        ("failures > 0", 2.0),
        ("error_rate < 5%", 2 / 110),
        ("POST /slow: error_rate < 5%", 0.2),
        ("rps > 0", 11.0),
        ("dropped == 3", 3.0),
        ("iterations >= 7", 7.0),
        ("browse: p95 < 5s", 3000.0),
    ],
)
def test_measured_values(stats, text, value):
    assert measure(_threshold(text), stats, elapsed_s=10.0) == pytest.approx(value, rel=1e-3)


def test_pass_and_fail_with_units(stats):
    assert evaluate(_threshold("/fast: p95 < 100ms"), stats, 10).passed
    assert not evaluate(_threshold("/fast: p95 < 90ms"), stats, 10).passed
    assert not evaluate(_threshold("error_rate < 1%"), stats, 10).passed
    result = evaluate(_threshold("/slow: p99 <= 2s"), stats, 10)
    assert result.passed and result.value == pytest.approx(500.0)  # of the successes
    failed = evaluate(_threshold("/slow: failed.p99 <= 2s"), stats, 10)
    assert failed.passed and failed.value == pytest.approx(2000.0)


def test_an_unknown_row_fails_instead_of_passing_vacuously(stats):
    result = evaluate(_threshold("/typo: p95 < 1s"), stats, 10)
    assert not result.passed and result.value is None


def test_no_requests_yet_means_no_latency_value():
    empty = Stats(clock=FakeClock())
    assert measure(_threshold("p95 < 1s"), empty, 1.0) is None
    assert measure(_threshold("error_rate < 1%"), empty, 1.0) == 0.0


def test_aborting_thresholds_wait_for_after(stats):
    failing = _threshold("error_rate < 1%", abort=True, after=30.0)
    passing = _threshold("p50 < 1s", abort=True)
    not_aborting = _threshold("p50 < 1ms")
    assert first_abort((failing, passing, not_aborting), stats, elapsed_s=10.0) is None
    assert first_abort((failing, passing, not_aborting), stats, elapsed_s=30.0) == "error_rate < 1%"
