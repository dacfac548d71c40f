"""Data feeds at run time: one shared `FeedState` per feed, one `UserData` view per user.

FeedState (process-wide, shared by every user of the process)
    Holds the feed's rows as `Row` dicts built once and never mutated. With
    `partition=(i, n)` it owns only rows i, i+n, i+2n, ... (distributed mode
    splits rows across workers so no unique row is used twice in a cluster).
    `acquire()` gives `(index, row)` where `index` is the row's position in the
    CSV file (0 = first data row); `release(index)` gives it back.

    order: sequential  round robin over the rows, one cursor shared by all users.
           random      rng.choice over the rows (the injected, seedable rng).
           unique      a row is leased to one holder at a time: acquire() never
                       returns a row someone holds; rows are handed out in file
                       order and a released row goes to the back of the queue.
    When is a feed exhausted, and what then (on_exhausted)?
           sequential  recycle: never (wraps around); stop_user/stop_test: after
                       each row was given out once in total.
           random      never, unless the feed (or this worker's share) is empty.
           unique      recycle: when every row is leased right now (released rows
                       come back); stop_user/stop_test: when every row was given
                       out once (released rows do not come back).
    On exhaustion `stop_test` raises `StopTest("data feed 'NAME' exhausted")`;
    `stop_user` — and `recycle` when recycling cannot help (an empty feed, or a
    unique feed with every row leased) — raises `StopUser`.

UserData (one per virtual user; the `data` name of its template context)
    `data.accounts.username` and `data['accounts']['username']` both give a
    column of the user's current row (so Jinja's sandboxed getattr works; a
    column named like a dict method, e.g. `values`, still gives the column).
    `start_user()` acquires a row of every `per: user` feed; `start_iteration()`
    releases the row of every `per: iteration` feed and acquires a new one;
    `stop()` releases every row held (call it in a `finally`, even after a
    StopUser from `start_user`). A feed declared but without a current row (a
    `per: iteration` feed read in `on_start`) raises `NoRowError`. Feed names
    in `RESERVED_FEED_NAMES` would be shadowed by UserData's methods.

Nothing here blocks or does I/O, so under gevent every call is atomic.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from yamlswarm import plan
from yamlswarm.runtime.signals import StopTest, StopUser

__all__ = ["RESERVED_FEED_NAMES", "FeedState", "NoRowError", "Row", "UserData"]

RESERVED_FEED_NAMES = frozenset({"start_user", "start_iteration", "stop", "feeds"})


class NoRowError(RuntimeError):
    """A template read a data feed for which this user holds no row."""


class Row(dict):
    """One CSV row, {column: value}; columns are also attributes (before dict methods)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_" and dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return dict.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"data row has no column {name!r}")


class FeedState:
    """The process-wide state of one data feed (see the module docstring)."""

    __slots__ = (
        "_cursor",
        "_free",
        "_indexes",
        "_leased",
        "_order",
        "_partition",
        "_recycle",
        "_rng",
        "_rows",
        "_stop_test",
        "feed",
    )

    def __init__(
        self, feed: plan.DataFeed, rng: random.Random, partition: tuple[int, int] = (0, 1)
    ) -> None:
        part, parts = partition
        if not 0 <= part < parts:
            raise ValueError(f"bad partition {partition!r}: need 0 <= i < n")
        self.feed = feed
        self._rng = rng
        self._partition = (part, parts)
        self._indexes = list(range(part, len(feed.rows), parts))
        self._rows = [Row(zip(feed.columns, feed.rows[i], strict=False)) for i in self._indexes]
        self._order = feed.order
        self._recycle = feed.on_exhausted == "recycle"
        self._stop_test = feed.on_exhausted == "stop_test"
        self._cursor = 0
        self._free: deque[int] = deque(range(len(self._rows)))  # unique: positions free
        self._leased: set[int] = set()

    def __len__(self) -> int:
        return len(self._rows)

    def acquire(self) -> tuple[int, Row]:
        """The next row by the feed's order; raises StopUser/StopTest when exhausted."""
        if not self._rows:
            self._exhausted("has no rows")
        if self._order == "random":
            position = self._rng.randrange(len(self._rows))
        elif self._order == "unique":
            position = self._lease()
        else:
            position = self._next_in_turn()
        return self._indexes[position], self._rows[position]

    def release(self, index: int) -> None:
        """Give back the row acquired as `index` (only unique feeds keep track)."""
        if self._order != "unique":
            return
        part, parts = self._partition
        position, rest = divmod(index - part, parts)
        if rest or position not in self._leased:
            return  # not a row of this partition, or not leased: nothing to give back
        self._leased.discard(position)
        if self._recycle:
            self._free.append(position)

    def _next_in_turn(self) -> int:
        position = self._cursor
        if position >= len(self._rows):
            if not self._recycle:
                self._exhausted("exhausted")
            position = 0
        self._cursor = position + 1
        return position

    def _lease(self) -> int:
        if not self._free:
            if self._recycle:
                self._exhausted(f"has no free row (all {len(self._rows)} in use)")
            self._exhausted("exhausted")
        position = self._free.popleft()
        self._leased.add(position)
        return position

    def _exhausted(self, why: str) -> None:
        message = f"data feed {self.feed.name!r} {why}"
        if self._stop_test:
            raise StopTest(message)
        raise StopUser(message)


class UserData:
    """One user's `data` object: its current row of each feed (see the module docstring)."""

    __slots__ = ("_held", "_rows", "feeds")

    def __init__(self, feeds: dict[str, FeedState]) -> None:
        self.feeds = feeds
        self._rows: dict[str, Row] = {}
        self._held: dict[str, int] = {}

    def __getattr__(self, name: str) -> Row:
        if name.startswith("_") or name in RESERVED_FEED_NAMES or name not in self.feeds:
            raise AttributeError(f"no data feed named {name!r}")
        return self[name]

    def __getitem__(self, name: str) -> Row:
        row = self._rows.get(name)
        if row is not None:
            return row
        feed = self.feeds.get(name)
        if feed is None:
            raise KeyError(f"no data feed named {name!r}")
        raise NoRowError(_no_row_message(feed.feed))

    def __contains__(self, name: object) -> bool:
        return name in self.feeds

    def __repr__(self) -> str:
        return f"<UserData {sorted(self._rows)}>"

    def start_user(self) -> None:
        """Acquire a row of every `per: user` feed."""
        for name, state in self.feeds.items():
            if state.feed.per == "user":
                self._take(name, state)

    def start_iteration(self) -> None:
        """Release and re-acquire the row of every `per: iteration` feed."""
        for name, state in self.feeds.items():
            if state.feed.per == "iteration":
                self._give_back(name)
                self._take(name, state)

    def stop(self) -> None:
        """Release every row this user holds."""
        for name in list(self._held):
            self._give_back(name)

    def _take(self, name: str, state: FeedState) -> None:
        index, row = state.acquire()
        self._held[name] = index
        self._rows[name] = Row(row)  # this user's own copy (CSV values are strings)

    def _give_back(self, name: str) -> None:
        index = self._held.pop(name, None)
        self._rows.pop(name, None)
        if index is not None:
            self.feeds[name].release(index)


def _no_row_message(feed: plan.DataFeed) -> str:
    if feed.per == "iteration":
        return (
            f"data feed {feed.name!r} (per: iteration) has no row yet: a row is taken "
            "at the start of each flow iteration, so on_start cannot read it"
        )
    return f"data feed {feed.name!r} has no row for this user (the user has not started)"
