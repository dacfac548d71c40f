"""Splitting a run across workers: exact sums of users, iterations, rates and unique data rows."""

from __future__ import annotations

from collections import Counter

import msgpack
import pytest

from yamlswarm import plan as p
from yamlswarm.distributed.split import (
    settings_from_wire,
    settings_to_wire,
    share_of,
    split_plan,
)
from yamlswarm.kinds.think import ThinkStep
from yamlswarm.runtime.runner import distribute
from yamlswarm.settings import RunSettings

FLOW = (p.Flow("f", 1.0, (ThinkStep(p.Wait("constant", 0.0)),)),)


def _plan(load: p.Load, users: tuple[p.UserType, ...] | None = None, **kw: object) -> p.Plan:
    kinds = users or (p.UserType("u", FLOW),)
    return p.Plan("t", "/x/t.yaml", "http://127.0.0.1:1", load, kinds, **kw)  # type: ignore[arg-type]


def _shares(plan: p.Plan, count: int, settings: RunSettings | None = None) -> list:
    return [split_plan(plan, settings or RunSettings(), i, count) for i in range(count)]


@pytest.mark.parametrize("count", range(1, 8))
def test_share_of_is_exact_and_even(count: int) -> None:
    for total in range(60):
        parts = [share_of(total, i, count) for i in range(count)]
        assert sum(parts) == total
        assert max(parts) - min(parts) <= 1


def test_iterations_split_exactly() -> None:
    shares = _shares(_plan(p.IterationsLoad(iterations=10, users=3)), 3)
    assert [s.settings.iterations for s in shares] == [4, 3, 3]
    assert [s.plan.load.iterations for s in shares] == [4, 3, 3]
    assert [s.plan.load.users for s in shares] == [1, 1, 1]
    assert all(s.settings.users is None for s in shares)


def test_iterations_override_is_split_and_capped_workers() -> None:
    plan = _plan(p.ClosedLoad(users=8, spawn_rate=8.0, duration=None))
    shares = _shares(plan, 4, RunSettings(iterations=3))
    assert [s.idle for s in shares] == [False, False, False, True]
    assert [s.settings.iterations for s in shares[:3]] == [1, 1, 1]
    assert [s.plan.iterations_cap for s in shares[:3]] == [1, 1, 1]
    # the 8 users are dealt over the 3 active workers only
    assert sum(s.plan.load.users for s in shares[:3]) == 8


def test_more_workers_than_users_leaves_some_idle() -> None:
    shares = _shares(_plan(p.IterationsLoad(iterations=10, users=2)), 3)
    assert [s.idle for s in shares] == [False, False, True]
    assert [s.settings.iterations for s in shares[:2]] == [5, 5]


def test_closed_users_by_weight_and_count_keep_the_global_mix() -> None:
    kinds = (
        p.UserType("a", FLOW, weight=3.0),
        p.UserType("b", FLOW, weight=1.0),
        p.UserType("fixed", FLOW, weight=None, count=3),
    )
    plan = _plan(p.ClosedLoad(users=23, spawn_rate=10.0, duration=60.0), kinds)
    shares = _shares(plan, 4)
    want = Counter(distribute(kinds, 23))
    got: Counter[int] = Counter()
    for share in shares:
        local = share.plan.users
        assert all(k.weight is None and k.count is not None for k in local)
        assert sum(k.count for k in local) == share.plan.load.users  # type: ignore[misc]
        got.update({i: k.count for i, k in enumerate(local)})
    assert got == want
    assert got[2] == 3  # the fixed count is exact across the cluster
    assert sum(s.plan.load.spawn_rate for s in shares) == pytest.approx(10.0)
    assert sum(s.plan.load.users for s in shares) == 23
    assert all(s.plan.load.duration == 60.0 for s in shares)


def test_users_and_spawn_rate_overrides_are_split() -> None:
    plan = _plan(p.ClosedLoad(users=1, spawn_rate=1.0, duration=None))
    shares = _shares(plan, 2, RunSettings(users=7, spawn_rate=14.0))
    assert [s.plan.load.users for s in shares] == [4, 3]
    assert [s.plan.load.spawn_rate for s in shares] == pytest.approx([8.0, 6.0])
    assert all(s.settings.users is None and s.settings.spawn_rate is None for s in shares)


def test_arrival_rates_and_max_users_are_divided() -> None:
    load = p.ArrivalLoad((p.Phase(10.0, 30.0, 60.0), p.Phase(5.0, 9.0)), max_users=10)
    shares = _shares(_plan(load), 3)
    assert sum(s.plan.load.max_users for s in shares) == 10
    for index in range(2):
        assert sum(s.plan.load.phases[index].rate for s in shares) == pytest.approx(
            load.phases[index].rate
        )
    assert sum(s.plan.load.phases[0].ramp_to for s in shares) == pytest.approx(60.0)
    assert shares[0].plan.load.phases[1].ramp_to is None


def test_stages_users_are_dealt_out() -> None:
    load = p.StagesLoad((p.Stage(5.0, 5), p.Stage(5.0, 12, 6.0), p.Stage(5.0, 0)))
    shares = _shares(_plan(load), 4)
    for index, stage in enumerate(load.stages):
        assert sum(s.plan.load.stages[index].users for s in shares) == stage.users
    assert sum(s.plan.load.stages[1].spawn_rate for s in shares) == pytest.approx(6.0)


def test_unique_data_is_partitioned_other_feeds_are_whole() -> None:
    rows = tuple((f"user{i}", "pw") for i in range(11))
    unique = p.DataFeed("accounts", "/x/a.csv", ("name", "pw"), rows, order="unique")
    shared = p.DataFeed("shared", "/x/b.csv", ("name", "pw"), rows[:2], order="sequential")
    plan = _plan(p.ClosedLoad(users=6, spawn_rate=6.0, duration=None), data=(unique, shared))
    shares = _shares(plan, 3)
    parts = [set(s.plan.data[0].rows) for s in shares]
    assert set().union(*parts) == set(rows)
    assert sum(len(part) for part in parts) == len(rows)  # disjoint
    assert all(s.plan.data[1].rows == rows[:2] for s in shares)


def test_thresholds_stay_on_the_master_and_seeds_differ() -> None:
    threshold = p.Threshold("p95 < 1ms", "p95", "<", 1.0, abort=True)
    plan = _plan(p.IterationsLoad(iterations=4, users=2), thresholds=(threshold,))
    shares = _shares(plan, 2, RunSettings(seed=5))
    assert all(s.plan.thresholds == () for s in shares)
    seeds = [s.settings.seed for s in shares]
    assert len(set(seeds)) == 2 and None not in seeds
    assert seeds == [s.settings.seed for s in _shares(plan, 2, RunSettings(seed=5))]
    assert all(s.settings.seed is None for s in _shares(plan, 2))


def test_settings_wire_round_trip() -> None:
    settings = RunSettings(
        host="http://127.0.0.1:9",
        users=3,
        spawn_rate=1.5,
        duration=30.0,
        iterations=7,
        env={"A": "1"},
        seed=9,
        stop_timeout=4.0,
    )
    wire = msgpack.unpackb(msgpack.packb(settings_to_wire(settings)))
    back = settings_from_wire(wire)
    assert back == RunSettings(
        host="http://127.0.0.1:9",
        users=3,
        spawn_rate=1.5,
        duration=30.0,
        iterations=7,
        env={"A": "1"},
        seed=9,
        stop_timeout=4.0,
        quiet=True,
    )
