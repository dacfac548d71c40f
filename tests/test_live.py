"""Tests of yamlswarm.report.live: the progress line on a terminal, in a log, and quiet."""

from __future__ import annotations

import io

from yamlswarm.report.live import CLEAR_EOL, LiveProgress, LiveView


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


def test_interactive_redraws_one_line_in_place():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=True, quiet=False, clock=clock, width=200)
    _run(progress, clock, 3)
    progress.update(_view(3))  # a second update within the same second is not drawn
    progress.finish()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.count(CLEAR_EOL) == 3
    assert "\n" not in text[:-1] and text.endswith("\n")
    last = text.split("\r")[-1]
    assert last == (
        "3s/2m | users 50 | 412 req/s | requests 3000 | failures 3 (0.1%) | "
        f"p50/p95/p99 12.3/45.1/0.500 ms{CLEAR_EOL}\n"
    )


def test_interactive_line_is_cut_to_the_terminal_width_and_shows_drops():
    out, clock = io.StringIO(), FakeClock()
    progress = LiveProgress(out, interactive=True, quiet=False, clock=clock, width=40)
    clock.now = 1.0
    progress.update(_view(1, dropped=7, duration_s=None))
    line = out.getvalue()[1 : -len(CLEAR_EOL)]
    assert len(line) == 39 and line.startswith("1s | users 50")
    wide = LiveProgress(io.StringIO(), interactive=False, quiet=False, clock=clock)
    assert wide.format(_view(1, dropped=7)).endswith(" | dropped 7")


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
