"""Tests of yamlswarm.report.live: the progress line on a terminal, in a log, and quiet."""

from __future__ import annotations

import io

from yamlswarm.report.live import CLEAR_BELOW, CLEAR_EOL, LiveProgress, LiveView, cursor_up
from yamlswarm.result import LiveRow
from yamlswarm.runtime.stats import Stats


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _view(second: int, **extra) -> LiveView:
    values = {
        "elapsed_s": float(second),
        "duration_s": 120.0,
        "users": 50,
        "rps": 412.3,
        "requests": 1000 * second,
        "failures": second,
        "p50": 12.34,
        "p95": 45.1,
        "p99": 0.5,
    }
    return LiveView(**{**values, **extra})


def _run(progress: LiveProgress, clock: FakeClock, seconds: int) -> None:
    for second in range(1, seconds + 1):
        clock.now = float(second)
        progress.update(_view(second))


def _rows() -> list[LiveRow]:
    return [
        LiveRow("/api/products", "GET", 2400, 3, 21.44),
        LiveRow("/api/cart", "POST", 600, 0, 35.0),
    ]


def test_interactive_dashboard_is_redrawn_in_place():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=True, quiet=False, clock=clock, width=200, height=40)
    for second in (1, 2, 3):
        clock.now = float(second)
        progress.update(_view(second, top_rows=_rows()))
    progress.update(_view(3))  # a second update within the same second is not drawn
    progress.finish()
    frames = out.getvalue().split(CLEAR_BELOW)[:-1]
    assert len(frames) == 3 and out.getvalue().endswith(CLEAR_BELOW)
    assert frames[0].startswith("\r") and "\x1b[" not in frames[0].replace(CLEAR_EOL, "")
    assert frames[1].startswith(cursor_up(7)) and frames[2].startswith(cursor_up(7))
    lines = frames[2][len(cursor_up(7)) :].split(CLEAR_EOL + "\n")
    assert lines[-1] == "" and all(CLEAR_EOL not in line for line in lines)
    assert lines[:-1] == [
        "yamlswarm  3s/2m (1m57s left)",
        "users 50  412 req/s  requests 3000  failures 3 (0.1%)",
        "last 10s  p50 12.3 ms  p95 45.1 ms  p99 0.500 ms",
        "",
        "  busiest rows         requests    req/s    failures    mean ms",
        "  GET /api/products        2400      800  3 (0.125%)       21.4",
        "  POST /api/cart            600      200      0 (0%)       35.0",
    ]


def test_dashboard_shrinks_and_clears_what_is_below():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=True, quiet=False, clock=clock, width=200, height=40)
    clock.now = 1.0
    progress.update(_view(1, top_rows=_rows()))
    clock.now = 2.0
    progress.update(_view(2))  # no rows yet: a shorter frame, the rest of the old one cleared
    second = out.getvalue().split(CLEAR_BELOW)[1]
    assert second.startswith(cursor_up(7)) and second.count("\n") == 3


def test_dashboard_fits_the_terminal():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=True, quiet=False, clock=clock, width=30, height=4)
    clock.now = 1.0
    progress.update(_view(1, dropped=7, duration_s=None, top_rows=_rows()))
    lines = out.getvalue()[1 : -len(CLEAR_BELOW)].split(CLEAR_EOL + "\n")[:-1]
    assert len(lines) == 3  # one line less than the terminal: the cursor can always go back up
    assert all(len(line) <= 29 for line in lines)
    assert lines[0] == "yamlswarm  1s" and lines[1].startswith("users 50  412 req/s")
    wide = LiveProgress(io.StringIO(), interactive=True, quiet=False, clock=clock, width=200)
    assert "dropped 7 (max_users busy)" in wide.dashboard(_view(1, dropped=7))[1]
    assert wide.format(_view(1, dropped=7)).endswith(" | dropped 7")


def test_live_view_of_real_stats_has_the_busiest_rows():
    clock = FakeClock()
    clock.now = 100.0
    stats = Stats(clock=clock)
    for index, count in enumerate((3, 50, 7, 20, 1, 9)):
        row = stats.row(f"/r{index}", "GET")
        for _ in range(count):
            row.success(0.010)
    stats.row("/r1", "GET").failure(0.030, "HTTP 500")
    for _ in range(100):
        stats.row("checkout", "GROUP").success(0.5)  # a transaction row: not a request row
    clock.now = 101.0
    stats.tick(5)
    view = stats.live_view(5, 60.0)
    assert [(r.name, r.requests) for r in view.top_rows] == [
        ("/r1", 51),
        ("/r3", 20),
        ("/r5", 9),
        ("/r2", 7),
        ("/r0", 3),
    ]
    assert view.top_rows[0].failures == 1 and view.top_rows[0].mean_ms == 10.392
    assert view.requests == 91


def test_not_interactive_prints_a_status_line_every_ten_seconds():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=False, quiet=False, clock=clock)
    _run(progress, clock, 25)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert [line.split(" | ")[0] for line in lines] == ["10s/2m", "20s/2m"]
    assert "\r" not in out.getvalue() and CLEAR_EOL not in out.getvalue()


def test_quiet_prints_nothing():
    out, clock = io.StringIO(), FakeClock()
    for interactive in (True, False):
        progress = LiveProgress(out, interactive=interactive, quiet=True, clock=clock)
        _run(progress, clock, 30)
        progress.finish()
    assert out.getvalue() == ""


def test_live_view_shows_schedule_lag_and_the_generator_health():
    view = _view(
        5,
        schedule_lag_ms={"p50": 0.1, "p99": 2.5, "max": 7.0},
        generator={"cpu_pct": 60.0, "cpu_pct_last": 97.0, "loop_lag_ms": {"p99": 12.0}},
    )
    progress = LiveProgress(io.StringIO(), interactive=True, quiet=False)
    text = "\n".join(progress.dashboard(view))
    assert "schedule lag p99 2.50 ms max 7.00 ms" in text
    assert "generator CPU 97% loop lag p99 12.0 ms" in text
    line = progress.format(view)
    assert "schedule lag" in line and "generator CPU" in line
    saturated = _view(5, generator={"cpu_pct": 99.0, "loop_lag_ms": {}, "saturated": True})
    assert "SATURATED" in progress.format(saturated)
