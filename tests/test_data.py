"""Data feeds at run time: FeedState orders, exhaustion, partitions, and the UserData view."""

from __future__ import annotations

import random

import pytest

from yamlswarm import plan
from yamlswarm.runtime.data import FeedState, NoRowError, Row, UserData
from yamlswarm.runtime.signals import StopTest, StopUser
from yamlswarm.templates import compile_value


def _feed(n=4, name="accounts", **kwargs):
    rows = tuple((f"user{i}", f"pw{i}") for i in range(n))
    return plan.DataFeed(name, f"/tmp/{name}.csv", ("username", "password"), rows, **kwargs)


def _state(n=4, seed=1, partition=(0, 1), **kwargs):
    return FeedState(_feed(n, **kwargs), random.Random(seed), partition)


def _names(state, count):
    return [state.acquire()[1]["username"] for _ in range(count)]


# ---------------------------------------------------------------- FeedState


def test_rows_are_built_once_and_reused():
    state = _state()
    index, row = state.acquire()
    assert (index, row) == (0, {"username": "user0", "password": "pw0"})
    for _ in range(3):
        state.acquire()
    assert state.acquire()[1] is row


def test_sequential_recycle_wraps_around():
    assert _names(_state(3), 7) == ["user0", "user1", "user2", "user0", "user1", "user2", "user0"]


@pytest.mark.parametrize("action,signal", [("stop_user", StopUser), ("stop_test", StopTest)])
def test_sequential_stop_uses_each_row_once(action, signal):
    state = _state(3, on_exhausted=action)
    assert _names(state, 3) == ["user0", "user1", "user2"]
    state.release(0)  # releasing does not make a sequential row usable again
    with pytest.raises(signal, match="data feed 'accounts' exhausted"):
        state.acquire()


def test_stop_test_carries_the_reason():
    state = _state(0, on_exhausted="stop_test")
    with pytest.raises(StopTest) as caught:
        state.acquire()
    assert caught.value.reason == "data feed 'accounts' has no rows"


def test_random_is_seeded_and_never_exhausts():
    first = _names(_state(5, seed=42, order="random", on_exhausted="stop_test"), 50)
    again = _names(_state(5, seed=42, order="random", on_exhausted="stop_test"), 50)
    other = _names(_state(5, seed=43, order="random", on_exhausted="stop_test"), 50)
    assert first == again
    assert first != other
    assert set(first) == {f"user{i}" for i in range(5)}


def test_random_empty_feed_exhausts():
    with pytest.raises(StopUser):
        _state(0, order="random").acquire()


def test_unique_never_hands_out_a_held_row():
    state = _state(3, order="unique")
    held = [state.acquire()[0] for _ in range(3)]
    assert held == [0, 1, 2]
    with pytest.raises(StopUser, match="no free row"):
        state.acquire()
    state.release(1)
    assert state.acquire()[0] == 1
    with pytest.raises(StopUser):
        state.acquire()


def test_unique_recycle_hands_back_least_recently_released():
    state = _state(4, order="unique")
    a, b = state.acquire()[0], state.acquire()[0]
    state.release(a)
    # free queue: 2, 3, then the released 0
    assert [state.acquire()[0] for _ in range(3)] == [2, 3, a]
    state.release(b)
    state.release(b)  # a double release is ignored, not a second free copy
    assert state.acquire()[0] == b
    with pytest.raises(StopUser):
        state.acquire()


def test_unique_lease_stress_with_seeded_holders():
    rng = random.Random(7)
    state = _state(5, order="unique")
    holding: set[int] = set()
    for _ in range(2000):
        if holding and (len(holding) == 5 or rng.random() < 0.5):
            index = rng.choice(sorted(holding))
            state.release(index)
            holding.discard(index)
        else:
            index = state.acquire()[0]
            assert index not in holding
            holding.add(index)


@pytest.mark.parametrize("action,signal", [("stop_user", StopUser), ("stop_test", StopTest)])
def test_unique_stop_uses_each_row_once_in_total(action, signal):
    state = _state(2, order="unique", on_exhausted=action)
    first, _ = state.acquire()
    state.release(first)
    assert state.acquire()[0] == 1
    with pytest.raises(signal, match="exhausted"):
        state.acquire()


def test_partitions_split_rows_without_overlap():
    feed = _feed(7, order="unique", on_exhausted="stop_user")
    seen = []
    for part in range(3):
        state = FeedState(feed, random.Random(0), (part, 3))
        got = []
        while True:
            try:
                got.append(state.acquire())
            except StopUser:
                break
        assert [index for index, _ in got] == list(range(part, 7, 3))
        assert all(row["username"] == f"user{index}" for index, row in got)
        seen += [index for index, _ in got]
    assert sorted(seen) == list(range(7))


def test_partition_release_uses_file_indexes():
    state = FeedState(_feed(7, order="unique"), random.Random(0), (1, 3))
    assert [state.acquire()[0] for _ in range(2)] == [1, 4]
    state.release(4)
    state.release(5)  # not a row of this partition: ignored
    assert state.acquire()[0] == 4
    with pytest.raises(StopUser):
        state.acquire()


def test_bad_partition():
    with pytest.raises(ValueError, match="partition"):
        _state(partition=(3, 3))


# ---------------------------------------------------------------- UserData


def _user_data(**states):
    return UserData(states)


def test_attribute_and_item_access_give_the_current_row():
    data = _user_data(accounts=_state(3))
    data.start_user()
    assert data.accounts.username == "user0"
    assert data["accounts"]["password"] == "pw0"
    assert "accounts" in data and "other" not in data


def test_templates_read_rows_through_the_sandbox():
    data = _user_data(accounts=_state(3))
    data.start_user()
    user = compile_value("{{ data.accounts.username }}:{{ data['accounts']['password'] }}")
    assert user.render({"data": data}) == "user0:pw0"


def test_a_column_named_like_a_dict_method_is_the_column():
    feed = plan.DataFeed("f", "/tmp/f.csv", ("values", "items"), (("v", "i"),))
    data = _user_data(f=FeedState(feed, random.Random(0)))
    data.start_user()
    assert data.f.values == "v"
    assert compile_value("{{ data.f.items }}").render({"data": data}) == "i"
    row = data.f
    assert isinstance(row, Row) and dict(row) == {"values": "v", "items": "i"}


def test_per_user_rows_are_kept_and_per_iteration_rows_change():
    data = _user_data(
        accounts=_state(3, order="unique"), products=_state(3, name="products", per="iteration")
    )
    data.start_user()
    assert data.accounts.username == "user0"
    with pytest.raises(NoRowError, match="per: iteration"):
        _ = data.products
    seen = []
    for _ in range(4):
        data.start_iteration()
        seen.append(data.products.username)
        assert data.accounts.username == "user0"
    assert seen == ["user0", "user1", "user2", "user0"]


def test_stop_releases_unique_rows_for_the_next_user():
    accounts = _state(1, order="unique")
    first = _user_data(accounts=accounts)
    first.start_user()
    second = _user_data(accounts=accounts)
    with pytest.raises(StopUser):
        second.start_user()
    first.stop()
    with pytest.raises(NoRowError):
        _ = first.accounts
    second.start_user()
    assert second.accounts.username == "user0"


def test_per_iteration_unique_rows_rotate_between_users():
    products = _state(2, order="unique", per="iteration")
    one, two = _user_data(p=products), _user_data(p=products)
    one.start_iteration()
    two.start_iteration()
    assert {one.p.username, two.p.username} == {"user0", "user1"}
    one.start_iteration()  # releases its row first, then gets the only free one back
    assert one.p.username != two.p.username


def test_unknown_feed_names():
    data = _user_data(accounts=_state())
    with pytest.raises(AttributeError, match="no data feed named 'nope'"):
        _ = data.nope
    with pytest.raises(KeyError):
        data["nope"]
    with pytest.raises(NoRowError, match="has no row for this user"):
        _ = data.accounts


def test_a_template_reading_a_feed_without_a_row_says_why():
    data = _user_data(products=_state(2, name="products", per="iteration"))
    data.start_user()
    with pytest.raises(NoRowError, match="'products' \\(per: iteration\\) has no row yet"):
        compile_value("{{ data.products.username }}").render({"data": data})
