"""Request statistics on HDR histograms: per-row and per-second, exact merges, the run result.

Every request of a run goes through `RowStats.success` / `RowStats.failure`, so
those two are kept cheap: no locks (gevent is cooperative), no allocation, and
the HDR bucket index is computed once per request and bumped in two count
arrays (the row's and the current second's) instead of calling
`HdrHistogram.record_value` twice. Exact count, sum, min and max are tracked
beside each histogram, so means are exact and percentiles are clamped to the
true [min, max]. Latencies are recorded in microseconds (1 µs .. 1 h, 3
significant digits). This module does not import gevent.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import yamlswarm
from yamlswarm.result import (
    STEP_METHODS,
    LiveRow,
    LiveView,
    RowResult,
    RunResult,
    ThresholdResult,
    TimelineRow,
    Totals,
)
from yamlswarm.runtime.epochs import EpochSeconds, epoch_of
from yamlswarm.runtime.hdr import BITS, HALF, HIGHEST_US, MASK, SHIFT, Dist, ms, to_us
from yamlswarm.runtime.metrics import MetricsRegistry
from yamlswarm.runtime.stats_results import (
    check_results,
    error_results,
)
from yamlswarm.runtime.stats_wire import EXPORT_VERSION as EXPORT_VERSION
from yamlswarm.runtime.stats_wire import export_stats, merge_stats

LIVE_WINDOW_S = 10
LIVE_TOP_ROWS = 5

# The error of a request still in flight when the run stopped it (counted: the server saw it).
INTERRUPTED = "interrupted"
DEFAULT_MAX_ROWS = 1_000  # distinct rows before requests go to their step's overflow row
OVERFLOW_SUFFIX = " (other names)"


class RowStats:
    """The numbers of one (name, method) row; the runtime keeps one per request step.

    `lat` holds the latency of successful requests, `fail` (made at the first failure)
    that of failed ones: a connection refused in 0.1 ms does not pull the percentiles
    of the successes down. The current second (`_sec`) sees both, for the rate.
    """

    __slots__ = (
        "_sec",
        "_stats",
        "errors",
        "fail",
        "failures",
        "lat",
        "method",
        "name",
        "service",
        "size_bytes",
    )

    def __init__(self, stats: Stats, name: str, method: str) -> None:
        self.name = name
        self.method = method
        self.lat = Dist()
        self.fail: Dist | None = None
        self.service: Dist | None = None
        self.failures = 0
        # bytes of every response body (successes and failures), added by the executor that
        # recorded it (`row.size_bytes += n`: one addition); the mean is per request
        self.size_bytes = 0
        self.errors: dict[str, list[Any]] = {}  # error -> [count, first, last, example]
        self._stats = stats
        self._sec = stats._second_of(method)

    @property
    def requests(self) -> int:
        return self.lat.n + self.failures

    def success(self, latency_s: float, service_s: float | None = None) -> None:
        """Record one successful request; the hot path of every run."""
        us = int(latency_s * 1_000_000 + 0.5)
        if us > HIGHEST_US or us < 0:
            us = to_us(latency_s)
        b = (us | MASK).bit_length() - BITS
        i = ((b + 1) << SHIFT) + (us >> b) - HALF
        lat = self.lat
        lat.counts[i] += 1
        lat.n += 1
        lat.sum_us += us
        # plain `if`s, not min()/max() calls: this runs for every request
        if us < lat.min_us:
            lat.min_us = us
        if us > lat.max_us:
            lat.max_us = us
        sec = self._sec
        if sec is not None:
            sec.counts[i] += 1
            sec.n += 1
            sec.sum_us += us
            if us < sec.min_us:
                sec.min_us = us
            if us > sec.max_us:
                sec.max_us = us
        if service_s is not None:
            self._record_service(service_s)

    def failure(
        self,
        latency_s: float,
        error: str,
        service_s: float | None = None,
        example: str | None = None,
    ) -> None:
        """Record one failed request; `error` is a short stable name for grouping."""
        us = to_us(latency_s)
        if self.fail is None:
            self.fail = Dist()
        self.fail.record(us)
        self.failures += 1
        sec = self._sec
        if sec is not None:
            sec.record(us)
            self._stats._sec_failures += 1
        if service_s is not None:
            self._record_service(service_s)
        self.note_error(error, example)

    def note_error(self, error: str, example: str | None = None) -> None:
        """Count an error in the error groups without counting a request (a second reason why
        one failed request failed, e.g. two extractions that found nothing)."""
        now = self._stats.clock()
        group = self.errors.get(error)
        if group is None:
            self.errors[error] = [1, now, now, example]
        else:
            group[0] += 1
            group[2] = now

    def _record_service(self, service_s: float) -> None:
        if self.service is None:
            self.service = Dist()
        self.service.record(to_us(service_s))

    def clear(self) -> None:
        self.lat.clear()
        for dist in (self.fail, self.service):
            if dist is not None:
                dist.clear()
        self.failures = self.size_bytes = 0
        self.errors.clear()


class Stats:
    """All statistics of one process's run (or, merged, of a whole cluster).

    `max_rows` caps the distinct rows: past it, a new (name, method) goes to the overflow
    row of its step (`row(name, method, step)`), and `warn` is called once per step.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.max_rows = max_rows
        self.warn = warn
        self.rows: dict[tuple[str, str], RowStats] = {}
        self.iterations = 0  # flow iterations finished
        self.iterations_interrupted = 0  # cut short by the run's stop (in no FLOW row)
        self.dropped = 0
        self.checks: set[tuple[str, str, str]] = set()
        self.users_stopped: dict[str, int] = {}  # reason -> users a `stop: user` stopped
        self.test_stopped: str | None = None  # the reason of a `stop: test`
        self.timeline: list[TimelineRow] = []
        self.lag: Dist | None = None  # open model: schedule lag of each iteration
        self.delay = Dist()  # client delay: kernel receive timestamp to our reading it
        self.generator: dict[str, Any] | None = None  # runtime.health's report, at the end
        self.overflowed: dict[str, int] = {}  # step -> requests that went to its overflow row
        self.metrics = MetricsRegistry()  # the custom metrics (`metrics:`, user.metrics)
        self.epochs = EpochSeconds()  # closed seconds by wall-clock second (distributed)
        self._second = Dist()  # every request row records into this one object
        self._sec_failures = 0
        self._window: deque[tuple[Dist, int]] = deque()  # closed seconds, newest last
        self._spare: list[Dist] = []
        self._scratch = Dist()  # reused by live_view
        self._closed_requests = 0  # requests and failures of the closed seconds
        self._closed_failures = 0
        self.start()

    # ------------------------------------------------------------ recording

    def start(self) -> None:
        """Mark the start of the load (the constructor calls it; call again to restart the clock)."""
        self.started = self.clock()
        self._last_tick = self.started

    def row(self, name: str, method: str, step: str | None = None) -> RowStats:
        """The row for (name, method), created once and cached; past `max_rows` distinct rows
        a new one is the overflow row of `step` (default: of `name`)."""
        key = (name, method)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= self.max_rows and method not in STEP_METHODS:
                return self._overflow(step or name, method)
            row = self.rows[key] = RowStats(self, name, method)
        return row

    def _overflow(self, step: str, method: str) -> RowStats:
        name = f"{step}{OVERFLOW_SUFFIX}"
        row = self.rows.get((name, method))
        if row is None:
            row = self.rows[(name, method)] = RowStats(self, name, method)
        if step not in self.overflowed and self.warn is not None:
            self.warn(
                f"warning: more than {self.max_rows} distinct request rows: the requests of "
                f"step {step!r} with new names go to the row {name!r}; give the step a "
                f"fixed `name:` (or raise --max-rows)"
            )
        self.overflowed[step] = self.overflowed.get(step, 0) + 1
        return row

    def _second_of(self, method: str) -> Dist | None:
        return None if method in STEP_METHODS else self._second

    def iteration_done(self) -> None:
        self.iterations += 1

    def iteration_interrupted(self) -> None:
        """An iteration the run's stop cut short after it sent a request: neither a success nor
        a failure of its flow (and not an iteration's duration), so counted apart (as k6 does)."""
        self.iterations_interrupted += 1

    def user_stopped(self, reason: str) -> None:
        """A step stopped its user (`stop: user`, `on_failure: stop_user`)."""
        self.users_stopped[reason] = self.users_stopped.get(reason, 0) + 1

    def stopped_test(self, reason: str) -> None:
        """A step stopped the test (`stop: test`, `on_failure: stop_test`); the first reason stays."""
        if self.test_stopped is None:
            self.test_stopped = reason

    def schedule_lag(self, lag_s: float) -> None:
        """Open model: how late an iteration started after it was due."""
        if self.lag is None:
            self.lag = Dist()
        self.lag.record(to_us(lag_s))

    def client_delay(self, delay_s: float) -> None:
        """How long a complete response waited for this process to read it (subtracted from
        its latency by the kernel's receive timestamp)."""
        us = int(delay_s * 1_000_000 + 0.5)
        self.delay.record(us if 0 <= us <= HIGHEST_US else to_us(delay_s))

    def register_check(self, name: str, method: str, description: str) -> None:
        """Declare a check so that it is reported (as passed) even if it never fails."""
        self.checks.add((name, method, description))

    def tick(self, users: int, final: bool = False) -> TimelineRow:
        """Close the current second into a timeline row; the runner calls it once a second.

        Its cost does not depend on how many rows there are: every row records into the
        one `_second` object, whose counts are handed to the live window here. The closed
        second is also kept under its epoch second (`runtime.epochs`); a master whose
        merges brought such seconds builds its timeline from them instead (`final`: all).
        """
        if self.epochs.merged:
            return self._tick_epochs(users, final)
        now = self.clock()
        interval = now - self._last_tick
        self.epochs.close(epoch_of(self._last_tick), self._second, self._sec_failures)
        self._last_tick = now
        if interval < 0.5 and self.timeline:
            # a final sliver of a second: its requests are in the totals, but scaled up to a
            # rate it would draw a spike that never happened, so it gets no timeline row
            self._rotate()
            return self.timeline[-1]
        last_t = self.timeline[-1].t if self.timeline else 0
        t = max(round(now - self.started), last_t + 1)
        per_s = 1.0 / interval if interval > 0 else 1.0
        row = _timeline_row(t, users, self._second, self._sec_failures, per_s)
        self.timeline.append(row)
        self._rotate()
        return row

    def _tick_epochs(self, users: int, final: bool) -> TimelineRow:
        """A master: one timeline row per merged epoch second that is complete now."""
        for epoch, dist, failures in self.epochs.due(self.clock(), final):
            last_t = self.timeline[-1].t if self.timeline else 0
            t = max(epoch + 1 - math.floor(self.started), last_t + 1)
            self.timeline.append(_timeline_row(t, users, dist, failures, 1.0))
            self._second.clear()
            self._second.add(dist)
            self._sec_failures = failures
            self._rotate()
        return self.timeline[-1] if self.timeline else TimelineRow(0, users, 0.0, 0.0)

    def _rotate(self) -> None:
        """Hand the current second to the live window and start afresh (the same object)."""
        sec = self._second
        closed = self._spare.pop() if self._spare else Dist()
        closed.counts, sec.counts = sec.counts, closed.counts
        closed.n, closed.sum_us, closed.min_us, closed.max_us = sec.n, sec.sum_us, sec.min_us, sec.max_us  # fmt: skip
        self._closed_requests += sec.n
        self._closed_failures += self._sec_failures
        self._window.append((closed, self._sec_failures))
        if len(self._window) > LIVE_WINDOW_S:
            self._spare.append(self._window.popleft()[0])
        sec.clear()
        self._sec_failures = 0

    # ------------------------------------------------------------ reading

    def request_rows(self) -> list[RowStats]:
        """Rows of requests (not STEP_METHODS rows): those the totals add up."""
        return [r for r in self.rows.values() if r.method not in STEP_METHODS]

    def split(self, rows: Iterable[RowStats] | None = None) -> tuple[Dist, Dist, Dist | None]:
        """Merge `rows` (default: every request row): (successes, failures, service or None)."""
        ok, failed, service = Dist(), Dist(), None
        for row in self.request_rows() if rows is None else rows:
            ok.add(row.lat)
            if row.fail is not None:
                failed.add(row.fail)
            if row.service is not None:
                service = service or Dist()
                service.add(row.service)
        return ok, failed, service

    def aggregate(self, rows: Iterable[RowStats] | None = None) -> tuple[Dist, Dist | None, int]:
        """Merge `rows` (default: every request row): (every request, service or None, failures)."""
        ok, failed, service = self.split(rows)
        ok.add(failed)
        return ok, service, failed.n

    def select(self, name: str | None) -> list[RowStats]:
        """Rows matching a threshold's ROW: a name, "METHOD name", or None for every request row."""
        if name is None:
            return self.request_rows()
        return [r for r in self.rows.values() if name in (r.name, f"{r.method} {r.name}")]

    def live_view(self, users: int, duration_s: float | None = None) -> LiveView:
        """Numbers for the live progress line: last second's rps, last 10 s percentiles."""
        window = self._scratch
        window.clear()
        for dist, _ in self._window:
            window.add(dist)
        p50, p95, p99 = (ms(v) for v in window.percentiles_us((50.0, 95.0, 99.0)))
        rows, merged = self.request_rows(), self.epochs.merged
        now_n, now_f = self._second.n, self._sec_failures
        elapsed = self.clock() - self.started
        return LiveView(
            elapsed_s=elapsed,
            duration_s=duration_s,
            users=users,
            rps=self.timeline[-1].rps if self.timeline else 0.0,
            requests=sum(r.requests for r in rows) if merged else self._closed_requests + now_n,
            failures=sum(r.failures for r in rows) if merged else self._closed_failures + now_f,
            p50=p50,
            p95=p95,
            p99=p99,
            dropped=self.dropped,
            top_rows=_top_rows(rows),
            schedule_lag_ms=self.lag.summary() if self.lag is not None else None,
            generator=self.generator,
            metrics=self.metrics.snapshot(elapsed) if self.metrics else {},
        )

    def snapshot(
        self,
        *,
        scenario: str,
        model: dict[str, Any],
        thresholds: Sequence[ThresholdResult] = (),
        duration_s: float | None = None,
        interrupted: bool = False,
        aborted: str | None = None,
        exit_code: int = 0,
    ) -> RunResult:
        """The run result so far (call `tick` once more at the end to keep the last second)."""
        if duration_s is None:
            duration_s = self.clock() - self.started
        duration_s = round(max(duration_s, 0.0), 3)
        ok, failed, service = self.split()
        requests = ok.n + failed.n
        totals = Totals(
            requests,
            failed.n,
            _rate(requests, duration_s),
            ok.latency(),
            service.latency() if service else None,
            failures_latency_ms=failed.latency() if failed.n else None,
            size_bytes=sum(r.size_bytes for r in self.request_rows()),
        )
        return RunResult(
            yamlswarm_version=yamlswarm.__version__,
            scenario=scenario,
            started_at=_iso(self.started),
            duration_s=duration_s,
            model=dict(model),
            iterations=self.iterations,
            iterations_interrupted=self.iterations_interrupted,
            dropped=self.dropped,
            totals=totals,
            requests=[self._row_result(r, duration_s) for r in self._sorted_rows()],
            errors=error_results(self, self._sorted_rows()),
            thresholds=list(thresholds),
            timeline=list(self.timeline),
            checks=check_results(self),
            interrupted=interrupted,
            aborted=aborted,
            exit_code=exit_code,
            users_stopped=dict(self.users_stopped),
            test_stopped=self.test_stopped,
            schedule_lag_ms=self.lag.summary() if self.lag is not None else None,
            generator=dict(self.generator) if self.generator else None,
            metrics=self.metrics.snapshot(duration_s),
        )

    def _sorted_rows(self) -> list[RowStats]:
        """Rows that recorded something (steps never reached, e.g. an unused `else`, are left out)."""
        return [self.rows[k] for k in sorted(self.rows) if self.rows[k].requests]

    def _row_result(self, row: RowStats, duration_s: float) -> RowResult:
        service = row.service.latency() if row.service is not None else None
        failed = row.fail.latency() if row.fail is not None and row.fail.n else None
        return RowResult(
            row.name,
            row.method,
            row.requests,
            row.failures,
            _rate(row.requests, duration_s),
            row.lat.latency(),
            service,
            failures_latency_ms=failed,
            size_bytes=row.size_bytes,
        )

    # ------------------------------------------------------------ distributed mode

    def export(self, reset: bool = False) -> dict[str, Any]:
        """A msgpack-friendly copy of every number; `reset=True` then zeroes them (delta
        reports). See `runtime.stats_wire`."""
        return export_stats(self, reset)

    def merge(self, data: dict[str, Any]) -> None:
        """Add another process's exported numbers exactly."""
        merge_stats(self, data)


def _timeline_row(t: int, users: int, sec: Dist, failures: int, per_s: float) -> TimelineRow:
    p50 = p95 = p99 = None  # a second without requests has no percentiles
    if sec.n:
        p50, p95, p99 = (ms(v) for v in sec.percentiles_us((50.0, 95.0, 99.0)))
    return TimelineRow(t, users, round(sec.n * per_s, 3), round(failures * per_s, 3), p50, p95, p99)


def _top_rows(rows: list[RowStats]) -> list[LiveRow]:
    """The LIVE_TOP_ROWS rows with the most requests, for the live dashboard."""
    busiest = heapq.nlargest(
        LIVE_TOP_ROWS, (r for r in rows if r.requests), key=lambda r: r.requests
    )
    return [LiveRow(r.name, r.method, r.requests, r.failures, _mean_ms(r)) for r in busiest]


def _mean_ms(row: RowStats) -> float:
    """Mean latency of every request of a row (successes and failures)."""
    total = row.lat.sum_us + (row.fail.sum_us if row.fail is not None else 0)
    return ms(total / row.requests) if row.requests else 0.0


def _rate(count: int, duration_s: float) -> float:
    return round(count / duration_s, 3) if duration_s > 0 else 0.0


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
