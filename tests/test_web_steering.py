"""Steering (runtime/steering.py) on virtual time: the start gate, users and arrival rates
changed mid-run, and the board's once-a-second picture (web/board.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fakes import FakeRun, plan_from_yaml

from yamlswarm.runtime.observers import Observers, Tick
from yamlswarm.runtime.steering import Steering
from yamlswarm.web.board import CLIENT_QUEUE, Board, Client, point_of

CLOSED = """
load: {users: 2, spawn_rate: 100, duration: 9s}
users:
  - name: shopper
    wait: {constant: 100ms}
    flows:
      - name: browse
        steps:
          - get: /items
"""

OPEN = """
load:
  arrival: [{duration: 9s, rate: 10}]
  max_users: 100
users:
  - name: visitor
    flows:
      - name: look
        steps:
          - get: /items
"""


class Script:
    """An observer that changes the steering at given seconds and records the users."""

    def __init__(self, steering: Steering, actions: dict[int, dict[str, Any]]) -> None:
        self.steering = steering
        self.actions = actions
        self.users: list[int] = []

    def second(self, tick: Tick) -> None:
        self.users.append(tick.users)
        change = self.actions.get(tick.second.t)
        if change is not None:
            self.steering.change(**change)

    def close(self, result: Any) -> None:
        pass


def steered(tmp_path, text: str, actions: dict[int, dict[str, Any]], wait: bool = False):
    plan = plan_from_yaml(tmp_path, text)
    steering = Steering(plan.load, wait_for_start=wait, spawn_rate=None)
    script = Script(steering, actions)
    run = FakeRun(plan, observers=Observers([script], __import__("io").StringIO()))
    run.runner.steering = steering
    steering.attach(run.runner)
    return run, steering, script


def test_closed_users_follow_the_steering(tmp_path):
    run, steering, script = steered(tmp_path, CLOSED, {3: {"users": 5}, 6: {"users": 1}})
    run.run()
    assert script.users == [2, 2, 2, 5, 5, 5, 1, 1, 1]
    assert steering.state == "stopped"
    per_second = Counter(int(t) for t in run.at())
    assert per_second[1] == 20 and per_second[4] == 50 and per_second[7] == 10


def test_spawn_rate_paces_new_users(tmp_path):
    run, _, script = steered(tmp_path, CLOSED, {2: {"users": 6, "spawn_rate": 1}})
    run.run()
    # the first new user at once (t=2), then one a second: 3 at 2.0, 4 at 3.0, 5 at 4.0, 6 at 5.0
    assert script.users[:7] == [2, 2, 4, 5, 6, 6, 6]


def test_open_rate_follows_the_steering(tmp_path):
    run, _, _ = steered(tmp_path, OPEN, {3: {"rate": 40}, 6: {"rate": 0}})
    run.run()
    per_second = Counter(int(t) for t in run.at())
    assert [per_second[s] for s in range(3)] == [10, 10, 10]
    assert 38 <= per_second[4] <= 41 and per_second[5] == 40
    assert sum(per_second[s] for s in range(7, 9)) == 0


def test_the_run_waits_for_start_and_the_duration_counts_from_it(tmp_path):
    run, steering, _ = steered(tmp_path, CLOSED, {}, wait=True)
    started_at: list[float] = []

    def press_start_later() -> None:
        run.clock.sleep(30)  # half a minute in the page before pressing Start
        started_at.append(run.clock.now())
        steering.start(users=1)

    import gevent

    gevent.spawn(press_start_later)
    runner = run.run()
    assert runner.started_at == started_at[0]
    assert 8.9 <= runner.elapsed <= 9.5
    assert min(run.at()) >= 0 and 89 <= len(run.sent) <= 91  # one user, 10 requests a second


def test_stop_before_start_ends_the_run_without_load(tmp_path):
    run, steering, _ = steered(tmp_path, CLOSED, {}, wait=True)
    import gevent

    gevent.spawn(lambda: (run.clock.sleep(5), steering.stop()))
    run.run()
    assert run.sent == []
    assert steering.state == "stopped"


def test_the_board_sends_one_picture_to_every_client_and_drops_for_slow_ones(tmp_path):
    run, steering, _ = steered(tmp_path, CLOSED, {})
    board = Board(run.runner.plan, steering, role="local", elapsed=steering.elapsed)
    fast, slow = board.connect(), board.connect()
    assert fast is not None and slow is not None
    runner = run.run()
    for row in runner.stats.timeline:
        board.second(runner.stats, 2, point_of(row))
        fast.queue.get_nowait()  # this one keeps up
    assert fast.dropped == 0
    assert slow.queue.qsize() == CLIENT_QUEUE and slow.dropped > 0  # bounded: drops, never grows
    picture = board.snapshot()
    assert picture["rows"][0]["name"] == "/items" and picture["totals"]["requests"] == 180
    assert picture["rows"][0]["current_rps"] == 0.0  # the same numbers again: none this second
    board.disconnect(slow)
    assert board.clients == {fast}


def test_a_client_queue_keeps_the_newest():
    client = Client()
    for n in range(CLIENT_QUEUE + 3):
        client.offer(str(n).encode())
    kept = [client.queue.get_nowait() for _ in range(CLIENT_QUEUE)]
    assert kept == [str(n).encode() for n in range(3, CLIENT_QUEUE + 3)]


def test_a_steer_message_with_a_bad_number_is_refused():
    import math

    import pytest

    from yamlswarm.distributed import messages as m

    for bad in (m.Steer(-1), m.Steer(None, math.inf), m.Steer(None, None, math.nan)):
        with pytest.raises(m.ProtocolError, match="bad 'steer' message"):
            m.decode(m.encode(bad))


STOPPING_USERS = """
data:
  rows: {csv: rows.csv, order: unique, on_exhausted: stop_user}
load: {users: 2, spawn_rate: 100, duration: 9s}
users:
  - name: shopper
    wait: {constant: 100ms}
    flows:
      - name: browse
        steps:
          - get: "/items/{{ data.rows.id }}"
"""


def test_users_that_stop_by_themselves_are_not_replaced_nor_counted_when_lowering(tmp_path):
    (tmp_path / "rows.csv").write_text("id\n1\n2\n3\n4\n", encoding="utf-8")
    run, _, script = steered(tmp_path, STOPPING_USERS, {2: {"users": 10}, 5: {"users": 3}})
    run.run()
    # 4 rows: at most 4 users ever run; lowering to 3 retires one of those 4, not 7
    assert script.users[2:5] == [4, 4, 4] and script.users[5:] == [3, 3, 3, 3]


def test_autostart_is_spawning_at_once_and_running_once_every_user_is_up(tmp_path):
    plan = plan_from_yaml(tmp_path, CLOSED)
    steering = Steering(plan.load, wait_for_start=False, spawn_rate=None)
    assert steering.started.is_set() and steering.state == "spawning"
    steering.spawned(2)
    assert steering.state == "running"
    waiting = Steering(plan.load, wait_for_start=True, spawn_rate=None)
    assert waiting.state == "ready" and not waiting.started.is_set()
