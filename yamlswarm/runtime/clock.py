"""The clock of a run: monotonic time, wall time and sleeping, injectable for tests.

Everything in the runtime that measures or waits goes through a `Clock`, so the
user loop, the load controllers and the thresholds can run on a fake clock
(tests/fakes.py) without real sleeps. Latency is measured on `now()`, a
monotonic clock in seconds; `wall()` is only for timestamps in reports.

This module imports no gevent (step builders and the compiler import it through
`runtime.context`): the run's real clock, `runner.GeventClock`, adds gevent's
sleep to the `SystemClock` here.
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


class SystemClock:
    """System time: `time.perf_counter` and `time.time`; `sleep` blocks the thread (`time.sleep`),
    right only outside gevent, e.g. for the step builders' timing, which never sleeps."""

    __slots__ = ()

    now = staticmethod(time.perf_counter)
    wall = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


_SYSTEM = SystemClock()


def system_clock() -> SystemClock:
    """The process's system clock."""
    return _SYSTEM
