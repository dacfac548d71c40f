"""Pure parts of the runtime's user types: spawn distribution and wait functions."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from yamlswarm import plan as p
from yamlswarm.runtime.usertypes import distribute, wait_function


def _types(*specs):
    flows = (p.Flow("f", 1.0, ()),)
    return tuple(p.UserType(f"t{i}", flows, weight=w, count=c) for i, (w, c) in enumerate(specs))


def test_weights_split_exactly_and_interleave():
    order = distribute(_types((3, None), (1, None)), 8)
    assert Counter(order) == {0: 6, 1: 2}
    # the first four users already have the 3:1 mix
    assert Counter(order[:4]) == {0: 3, 1: 1}


def test_fixed_counts_come_first_then_weights():
    order = distribute(_types((None, 2), (1, None), (1, None)), 7)
    counts = Counter(order)
    assert counts[0] == 2
    assert counts[1] + counts[2] == 5 and abs(counts[1] - counts[2]) == 1


def test_largest_remainder_keeps_total():
    for total in range(0, 30):
        assert len(distribute(_types((1, None), (1, None), (1, None)), total)) == total


@pytest.mark.parametrize(
    "wait,elapsed,expected",
    [
        (p.Wait("constant", 2.0), 0.5, 2.0),
        (p.Wait("pacing", 2.0), 0.5, 1.5),
        (p.Wait("pacing", 2.0), 3.0, 0.0),
        (p.Wait("throughput", 0.5), 0.5, 1.5),
    ],
)
def test_wait_functions(wait, elapsed, expected):
    assert wait_function(wait)(random.Random(1), elapsed) == pytest.approx(expected)


def test_between_is_seeded_and_bounded():
    fn = wait_function(p.Wait("between", 1.0, 3.0))
    a = [fn(random.Random(7), 0) for _ in range(3)]
    b = [fn(random.Random(7), 0) for _ in range(3)]
    assert a == b
    assert all(1.0 <= x <= 3.0 for x in a)
    assert wait_function(None) is None
