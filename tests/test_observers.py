"""The per-second observer seam: every closed second reaches each observer, a failing
observer is dropped and reported once, and the run goes on (runtime/observers.py)."""

from __future__ import annotations

import io
from typing import Any

from fakes import FakeRun, plan_from_yaml

from yamlswarm.runtime.observers import Observers, Tick

SCENARIO = """
load: {users: 2, spawn_rate: 100, duration: 5s}
users:
  - name: shopper
    flows:
      - name: browse
        steps:
          - get: /items
          - think: 100ms
"""


class Recorder:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.closed: list[Any] = []

    def second(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def close(self, result: Any | None) -> None:
        self.closed.append(result)


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def second(self, tick: Tick) -> None:
        self.calls += 1
        raise RuntimeError("backend on fire")

    def close(self, result: Any | None) -> None:
        raise AssertionError("a dropped observer is never closed")


def test_each_second_reaches_the_observers_and_a_broken_one_is_dropped(tmp_path):
    plan = plan_from_yaml(tmp_path, SCENARIO)
    recorder, broken = Recorder(), Broken()
    err = io.StringIO()
    observers = Observers([broken, recorder], err)
    runner = FakeRun(plan, observers=observers).run()

    assert [t.second.t for t in recorder.ticks] == [1, 2, 3, 4, 5]
    assert all(t.users == 2 for t in recorder.ticks)
    assert recorder.ticks[-1].stats is runner.stats
    assert sum(t.second.rps for t in recorder.ticks) > 0
    assert broken.calls == 1
    assert err.getvalue().count("Broken failed and was stopped") == 1
    observers.close("result")
    assert recorder.closed == ["result"]
