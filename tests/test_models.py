"""Workload schedules, exactly: arrival counts and times, stage shapes."""

from __future__ import annotations

import pytest

from yamlswarm import plan as p
from yamlswarm.runtime.workload import arrival_offsets, model_duration, stage_target


def test_constant_rate_gives_rate_times_duration_arrivals_evenly_spaced():
    offsets = list(arrival_offsets((p.Phase(duration=3, rate=20),)))
    assert len(offsets) == 60
    assert offsets[:3] == pytest.approx([0.0, 0.05, 0.1])
    assert all(0 <= t < 3 for t in offsets)


def test_linear_ramp_follows_the_integral():
    offsets = list(arrival_offsets((p.Phase(duration=10, rate=0, ramp_to=10),)))
    assert len(offsets) == 50  # (0 + 10) / 2 * 10
    # N(t) = t^2 / 2 arrivals by t: the k-th arrival is due at sqrt(2k)
    for k in (1, 8, 32, 49):
        assert offsets[k] == pytest.approx((2 * k) ** 0.5)
    # arrivals crowd towards the end of an upward ramp
    first_half = sum(1 for t in offsets if t < 5)
    assert first_half == 13  # ceil(5^2 / 2)


def test_ramp_down_and_phases_join_without_losing_fractions():
    offsets = list(arrival_offsets((p.Phase(1, 2.5), p.Phase(1, 2.5))))
    assert len(offsets) == 5
    assert offsets == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    down = list(arrival_offsets((p.Phase(duration=4, rate=10, ramp_to=0),)))
    assert len(down) == 20
    assert sorted(down) == down


def test_zero_rate_phase_is_a_pause():
    offsets = list(arrival_offsets((p.Phase(1, 2), p.Phase(5, 0), p.Phase(1, 2))))
    assert offsets == pytest.approx([0.0, 0.5, 6.0, 6.5])


def test_stages_are_piecewise_linear():
    stages = (p.Stage(10, 10), p.Stage(5, 10), p.Stage(10, 0))
    assert [stage_target(stages, t) for t in (0, 2.5, 5, 10, 12, 15, 20, 25, 30)] == [
        0,
        2,
        5,
        10,
        10,
        10,
        5,
        0,
        0,
    ]


def test_stage_with_spawn_rate_moves_at_that_rate_then_holds():
    stages = (p.Stage(10, 6, spawn_rate=2),)
    assert [stage_target(stages, t) for t in (0, 1, 2, 3, 5, 9)] == [0, 2, 4, 6, 6, 6]
    down = (p.Stage(1, 6), p.Stage(10, 0, spawn_rate=3))
    assert [stage_target(down, t) for t in (1, 2, 3, 5)] == [6, 3, 0, 0]


def test_model_durations():
    assert model_duration(p.StagesLoad((p.Stage(2, 1), p.Stage(3, 0)))) == 5
    assert model_duration(p.ArrivalLoad((p.Phase(2, 1), p.Phase(1, 3)), 10)) == 3
    assert model_duration(p.ClosedLoad(1, 1.0, None)) is None
    assert model_duration(p.IterationsLoad(5, 1)) is None
