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
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import yamlswarm
from yamlswarm.result import (
    CheckResult,
    ErrorResult,
    LiveRow,
    LiveView,
    RowResult,
    RunResult,
    ThresholdResult,
    TimelineRow,
    Totals,
)
from yamlswarm.runtime.hdr import BITS, HALF, HIGHEST_US, MASK, SHIFT, Dist, ms, to_us

EXPORT_VERSION = 1
LIVE_WINDOW_S = 10
LIVE_TOP_ROWS = 5

# Rows of steps that are not one request (a `group:` transaction, a hook `call:`, a failed
# `set:`/`if:`/`loop:`): shown as rows, but not added into the totals, the timeline or the
# live numbers, so that a request is never counted twice and a 0 s step error does not
# drag the request percentiles down. Every `StepKind.stats_method` of the step-kind registry
# belongs here (tests/test_kinds.py checks it); this module cannot import the registry, whose
# builders use the runtime that uses this module.
STEP_METHODS = frozenset({"GROUP", "FLOW", "CALL", "SET", "IF", "LOOP", "LOG", "THINK"})
# Transactions time several steps; their failures are the failures of those steps, which the
# error table already shows, so they are left out of it.
TRANSACTION_METHODS = frozenset({"GROUP", "FLOW"})
_CHECK_PREFIX = "check failed: "
MESSAGE_SEPARATOR = " — "  # "check failed: <check> — <its message:, rendered>"


class RowStats:
    """The numbers of one (name, method) row; the runtime keeps one per request step."""

    __slots__ = ("_sec", "_stats", "errors", "failures", "lat", "method", "name", "service")

    def __init__(self, stats: Stats, name: str, method: str) -> None:
        self.name = name
        self.method = method
        self.lat = Dist()
        self.service: Dist | None = None
        self.failures = 0
        self.errors: dict[str, list[Any]] = {}  # error -> [count, first, last, example]
        self._stats = stats
        self._sec = stats._second_of(method)

    @property
    def requests(self) -> int:
        return self.lat.n

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
        self.success(latency_s, service_s)
        self.failures += 1
        if self._sec is not None:
            self._stats._sec_failures += 1
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
        if self.service is not None:
            self.service.clear()
        self.failures = 0
        self.errors.clear()


class Stats:
    """All statistics of one process's run (or, merged, of a whole cluster)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.rows: dict[tuple[str, str], RowStats] = {}
        self.iterations = 0
        self.dropped = 0
        self.checks: set[tuple[str, str, str]] = set()
        self.users_stopped: dict[str, int] = {}  # reason -> users a `stop: user` stopped
        self.test_stopped: str | None = None  # the reason of a `stop: test`
        self.timeline: list[TimelineRow] = []
        self._second = Dist()
        self._sec_failures = 0
        self._window: deque[tuple[Dist, int]] = deque()  # closed seconds, newest last
        self._spare: list[Dist] = []
        self._scratch = Dist()  # reused by live_view
        self.start()

    # ------------------------------------------------------------ recording

    def start(self) -> None:
        """Mark the start of the load (the constructor calls it; call again to restart the clock)."""
        self.started = self.clock()
        self._last_tick = self.started

    def row(self, name: str, method: str) -> RowStats:
        """The row for (name, method), created once and cached."""
        key = (name, method)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = RowStats(self, name, method)
        return row

    def _second_of(self, method: str) -> Dist | None:
        return None if method in STEP_METHODS else self._second

    def iteration_done(self) -> None:
        self.iterations += 1

    def user_stopped(self, reason: str) -> None:
        """A step stopped its user (`stop: user`, `on_failure: stop_user`)."""
        self.users_stopped[reason] = self.users_stopped.get(reason, 0) + 1

    def stopped_test(self, reason: str) -> None:
        """A step stopped the test (`stop: test`, `on_failure: stop_test`); the first reason stays."""
        if self.test_stopped is None:
            self.test_stopped = reason

    def register_check(self, name: str, method: str, description: str) -> None:
        """Declare a check so that it is reported (as passed) even if it never fails."""
        self.checks.add((name, method, description))

    def tick(self, users: int) -> TimelineRow:
        """Close the current second into a timeline row; the runner calls it once a second."""
        now = self.clock()
        interval = now - self._last_tick
        self._last_tick = now
        if interval < 0.5 and self.timeline:
            # a final sliver of a second: its requests are in the totals, but scaled up to a
            # rate it would draw a spike that never happened, so it gets no timeline row
            self._rotate(self._second, self._sec_failures)
            return self.timeline[-1]
        last_t = self.timeline[-1].t if self.timeline else 0
        t = max(round(now - self.started), last_t + 1)
        sec, failures = self._second, self._sec_failures
        per_s = 1.0 / interval if interval > 0 else 1.0
        p50, p95, p99 = (ms(v) for v in sec.percentiles_us((50.0, 95.0, 99.0)))
        row = TimelineRow(
            t, users, round(sec.n * per_s, 3), round(failures * per_s, 3), p50, p95, p99
        )
        self.timeline.append(row)
        self._rotate(sec, failures)
        return row

    def _rotate(self, closed: Dist, failures: int) -> None:
        """Keep the closed second for the live window and start a fresh one."""
        self._window.append((closed, failures))
        if len(self._window) > LIVE_WINDOW_S:
            self._spare.append(self._window.popleft()[0])
        fresh = self._spare.pop() if self._spare else Dist()
        fresh.clear()
        self._second = fresh
        self._sec_failures = 0
        for row in self.rows.values():
            if row._sec is not None:
                row._sec = fresh

    # ------------------------------------------------------------ reading

    def request_rows(self) -> list[RowStats]:
        """Rows of requests (not STEP_METHODS rows): those the totals add up."""
        return [r for r in self.rows.values() if r.method not in STEP_METHODS]

    def aggregate(self, rows: Iterable[RowStats] | None = None) -> tuple[Dist, Dist | None, int]:
        """Merge `rows` (default: every request row): (latency, service or None, failures)."""
        lat, service, failures = Dist(), None, 0
        for row in self.request_rows() if rows is None else rows:
            lat.add(row.lat)
            failures += row.failures
            if row.service is not None:
                service = service or Dist()
                service.add(row.service)
        return lat, service, failures

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
        rows = self.request_rows()
        return LiveView(
            elapsed_s=self.clock() - self.started,
            duration_s=duration_s,
            users=users,
            rps=self.timeline[-1].rps if self.timeline else 0.0,
            requests=sum(r.lat.n for r in rows),
            failures=sum(r.failures for r in rows),
            p50=p50,
            p95=p95,
            p99=p99,
            dropped=self.dropped,
            top_rows=_top_rows(rows),
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
        lat, service, failures = self.aggregate()
        totals = Totals(
            lat.n,
            failures,
            _rate(lat.n, duration_s),
            lat.latency(),
            service.latency() if service else None,
        )
        return RunResult(
            yamlswarm_version=yamlswarm.__version__,
            scenario=scenario,
            started_at=_iso(self.started),
            duration_s=duration_s,
            model=dict(model),
            iterations=self.iterations,
            dropped=self.dropped,
            totals=totals,
            requests=[self._row_result(r, duration_s) for r in self._sorted_rows()],
            errors=self._error_results(),
            thresholds=list(thresholds),
            timeline=list(self.timeline),
            checks=self._check_results(),
            interrupted=interrupted,
            aborted=aborted,
            exit_code=exit_code,
            users_stopped=dict(self.users_stopped),
            test_stopped=self.test_stopped,
        )

    def _sorted_rows(self) -> list[RowStats]:
        """Rows that recorded something (steps never reached, e.g. an unused `else`, are left out)."""
        return [self.rows[k] for k in sorted(self.rows) if self.rows[k].lat.n]

    def _row_result(self, row: RowStats, duration_s: float) -> RowResult:
        service = row.service.latency() if row.service is not None else None
        return RowResult(
            row.name,
            row.method,
            row.lat.n,
            row.failures,
            _rate(row.lat.n, duration_s),
            row.lat.latency(),
            service,
        )

    def _error_results(self) -> list[ErrorResult]:
        out = []
        for row in self._sorted_rows():
            if row.method in TRANSACTION_METHODS:
                continue
            for error, (count, first, last, example) in row.errors.items():
                out.append(
                    ErrorResult(
                        row.name,
                        row.method,
                        error,
                        count,
                        round(first - self.started, 3),
                        round(last - self.started, 3),
                        example,
                    )
                )
        out.sort(key=lambda e: (-e.count, e.name, e.method, e.error))
        return out

    def _check_results(self) -> list[CheckResult]:
        failed: dict[tuple[str, str, str], int] = {}
        messages: dict[tuple[str, str, str], list[str]] = {}
        for row in self.rows.values():
            for error, group in row.errors.items():
                if error.startswith(_CHECK_PREFIX):
                    check, _, message = error[len(_CHECK_PREFIX) :].partition(MESSAGE_SEPARATOR)
                    key = (row.name, row.method, check)
                    failed[key] = failed.get(key, 0) + group[0]
                    if message and len(messages.setdefault(key, [])) < 5:
                        messages[key].append(message)
        keys = sorted(self.checks | failed.keys())
        return [
            CheckResult(n, m, d, failed.get((n, m, d), 0), messages.get((n, m, d), []))
            for n, m, d in keys
        ]

    # ------------------------------------------------------------ distributed mode

    def export(self, reset: bool = False) -> dict[str, Any]:
        """A msgpack-friendly copy of every number; `reset=True` then zeroes them (delta reports).

        The current second travels too, so a master that merges reports and
        ticks its own Stats builds the cluster's timeline. Cached RowStats stay
        valid after a reset.
        """
        data = {
            "version": EXPORT_VERSION,
            "iterations": self.iterations,
            "dropped": self.dropped,
            "rows": [self._export_row(r) for r in self.rows.values()],
            "checks": [list(c) for c in sorted(self.checks)],
            "second": self._second.export(),
            "second_failures": self._sec_failures,
            "users_stopped": dict(self.users_stopped),
            "test_stopped": self.test_stopped,
        }
        if reset:
            self._reset_counts()
        return data

    def _export_row(self, row: RowStats) -> dict[str, Any]:
        return {
            "name": row.name,
            "method": row.method,
            "failures": row.failures,
            "lat": row.lat.export(),
            "service": row.service.export() if row.service is not None else None,
            "errors": [[e, *g] for e, g in row.errors.items()],
        }

    def _reset_counts(self) -> None:
        self.iterations = self.dropped = self._sec_failures = 0
        self.users_stopped.clear()
        for row in self.rows.values():
            row.clear()
        self._second.clear()

    def merge(self, data: dict[str, Any]) -> None:
        """Add another process's exported numbers exactly."""
        if data.get("version") != EXPORT_VERSION:
            raise ValueError(f"stats export version {data.get('version')!r} is not supported")
        self.iterations += data["iterations"]
        self.dropped += data["dropped"]
        self.checks.update((n, m, d) for n, m, d in data["checks"])
        for item in data["rows"]:
            self._merge_row(item)
        self._second.merge(data["second"])
        self._sec_failures += data["second_failures"]
        for reason, count in (data.get("users_stopped") or {}).items():
            self.users_stopped[str(reason)] = self.users_stopped.get(str(reason), 0) + int(count)
        if data.get("test_stopped") and self.test_stopped is None:
            self.test_stopped = str(data["test_stopped"])

    def _merge_row(self, item: dict[str, Any]) -> None:
        row = self.row(item["name"], item["method"])
        row.lat.merge(item["lat"])
        row.failures += item["failures"]
        if item["service"] is not None and item["service"]["n"]:
            if row.service is None:
                row.service = Dist()
            row.service.merge(item["service"])
        for error, count, first, last, example in item["errors"]:
            group = row.errors.get(error)
            if group is None:
                row.errors[error] = [count, first, last, example]
            else:
                group[0] += count
                if first < group[1]:
                    group[1], group[3] = first, example
                group[2] = max(group[2], last)


def _top_rows(rows: list[RowStats]) -> list[LiveRow]:
    """The LIVE_TOP_ROWS rows with the most requests, for the live dashboard."""
    busiest = heapq.nlargest(LIVE_TOP_ROWS, (r for r in rows if r.lat.n), key=lambda r: r.lat.n)
    return [
        LiveRow(r.name, r.method, r.lat.n, r.failures, ms(r.lat.sum_us / r.lat.n)) for r in busiest
    ]


def _rate(count: int, duration_s: float) -> float:
    return round(count / duration_s, 3) if duration_s > 0 else 0.0


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
