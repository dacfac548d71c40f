"""The load generator's own health: event-loop lag and CPU share, and a warning when it is the bottleneck.

A generator whose CPU is saturated keeps reporting low latencies while its
throughput quietly drops; nothing in the request numbers shows it. So a
`HealthMonitor` measures, continuously and cheaply:

- event-loop lag: a greenlet asks to wake every 100 ms and records how late it
  woke (a busy loop serves it late), in an HDR histogram (`Dist`);
- CPU share: `time.process_time()` over the run's clock, once a second.

`second()` (the runner's ticker calls it) closes one second; when the CPU share
is above 90 % or the second's loop-lag p99 above 10 ms for more than
`BAD_SECONDS` seconds in a row, `warn` is called once with the fix. `report()`
is the JSON `generator` object. The clock and the CPU source are injected, so a
fake clock tests it deterministically. This module does not import gevent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from yamlswarm.runtime.clock import Clock
from yamlswarm.runtime.hdr import Dist, ms, to_us

__all__ = ["CPU_LIMIT_PCT", "LOOP_LAG_LIMIT_MS", "HealthMonitor"]

INTERVAL_S = 0.1
CPU_LIMIT_PCT = 90.0
LOOP_LAG_LIMIT_MS = 10.0
BAD_SECONDS = 3  # "for more than a few seconds": warn on the 4th bad second in a row


class HealthMonitor:
    """Measures one process's event-loop lag and CPU share (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        cpu: Callable[[], float] = time.process_time,
        warn: Callable[[str], None] | None = None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.clock = clock
        self.cpu = cpu
        self.warn = warn
        self.interval_s = interval_s
        self.loop_lag = Dist()  # the whole run
        self._second_lag = Dist()  # the current second
        self.warnings: list[str] = []
        self._bad = 0
        self._started = self._last = clock.now()
        self._cpu_start = self._cpu_last = cpu()
        self.cpu_pct_last = 0.0
        self.cpu_pct_peak = 0.0
        self.lag_p99_ms_last = 0.0

    def run(self) -> None:
        """The ticker greenlet's body: wake every `interval_s`, record how late (until killed)."""
        clock, interval = self.clock, self.interval_s
        due = clock.now() + interval
        while True:
            clock.sleep(due - clock.now())
            now = clock.now()
            us = to_us(now - due) if now > due else 0
            self.loop_lag.record(us)
            self._second_lag.record(us)
            due = max(due + interval, now)  # a long stall is one late wake-up, not many

    def second(self) -> None:
        """Close one second: its CPU share and loop lag; warn once when saturated for long."""
        now, cpu = self.clock.now(), self.cpu()
        span = now - self._last
        if span <= 0:
            return
        self.cpu_pct_last = round(100.0 * (cpu - self._cpu_last) / span, 1)
        self.cpu_pct_peak = max(self.cpu_pct_peak, self.cpu_pct_last)
        self._last, self._cpu_last = now, cpu
        lag_p99_ms = ms(self._second_lag.percentiles_us((99.0,))[0])
        self._second_lag.clear()
        self.lag_p99_ms_last = lag_p99_ms
        saturated = self.cpu_pct_last > CPU_LIMIT_PCT or lag_p99_ms > LOOP_LAG_LIMIT_MS
        self._bad = self._bad + 1 if saturated else 0
        if self._bad > BAD_SECONDS and not self.warnings:
            self._warn(self.cpu_pct_last, lag_p99_ms)

    def _warn(self, cpu_pct: float, lag_p99_ms: float) -> None:
        text = (
            f"the load generator is the bottleneck: CPU {cpu_pct:.0f}% (limit "
            f"{CPU_LIMIT_PCT:.0f}%), event-loop lag p99 {lag_p99_ms:g} ms (limit "
            f"{LOOP_LAG_LIMIT_MS:g} ms) for more than {BAD_SECONDS} s; latencies are "
            "inflated and the rate may be lower than asked: spread the load with "
            "--processes N (one per core) or more workers"
        )
        self.warnings.append(text)
        if self.warn is not None:
            self.warn(f"warning: {text}")

    def report(self) -> dict[str, Any]:
        """The JSON `generator` object: CPU share over the run so far, loop lag, warnings."""
        span = self.clock.now() - self._started
        cpu_pct = 100.0 * (self.cpu() - self._cpu_start) / span if span > 0 else 0.0
        return {
            "cpu_pct": round(cpu_pct, 1),
            "cpu_pct_peak": self.cpu_pct_peak,
            "cpu_pct_last": self.cpu_pct_last,  # the last second (the live view shows it)
            "loop_lag_ms_last": self.lag_p99_ms_last,  # the last second's p99 (the web UI's)
            "loop_lag_ms": self.loop_lag.summary() or {"p50": 0.0, "p99": 0.0, "max": 0.0},
            "saturated": bool(self.warnings),
            "warnings": list(self.warnings),
        }
