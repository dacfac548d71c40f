"""The clock of a run: monotonic time, wall time and sleeping, injectable for tests.

Everything in the runtime that measures or waits goes through a `Clock`, so the
user loop, the load controllers and the thresholds can run on a fake clock
(tests/fakes.py) without real sleeps. Latency is measured on `now()`, a
monotonic clock in seconds; `wall()` is only for timestamps in reports.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, wall-clock time and a cooperative sleep."""

    def now(self) -> float:
        """Monotonic seconds (perf_counter): what latency and schedules are measured on."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for timestamps only."""
        ...

    def sleep(self, seconds: float) -> None:
        """Yield to other users for `seconds` (nothing when seconds <= 0)."""
        ...


class GeventClock:
    """The real clock: `time.perf_counter`, `time.time` and `gevent.sleep`."""

    __slots__ = ()

    now = staticmethod(time.perf_counter)
    wall = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            import gevent  # here, not at import time: the compiler imports no gevent

            gevent.sleep(seconds)


_REAL = GeventClock()


def real_clock() -> Clock:
    """The process's real clock."""
    return _REAL
