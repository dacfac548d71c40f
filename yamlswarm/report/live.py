"""Live progress: a small dashboard redrawn in place on a terminal, else a status line every 10 s."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from tabulate import tabulate

from yamlswarm.report.custom import metric_value
from yamlswarm.report.table import number, percent
from yamlswarm.report.terminal import one_line
from yamlswarm.result import LiveView
from yamlswarm.units import format_duration

__all__ = ["LiveProgress", "LiveView"]

CLEAR_EOL = "\x1b[K"
CLEAR_BELOW = "\x1b[J"
REDRAW_INTERVAL_S = 0.9  # "about once a second" even if updates come a little early
STATUS_INTERVAL_S = 10.0


def cursor_up(lines: int) -> str:
    """Move the cursor up `lines` lines, to the first column."""
    return f"\x1b[{lines}A\r" if lines else "\r"


class LiveProgress:
    """Shows a `LiveView` once a second: `dashboard` on a terminal, `format` in a log."""

    def __init__(
        self,
        out: TextIO,
        *,
        interactive: bool,
        quiet: bool,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        self.out = out
        self.interactive = interactive
        self.quiet = quiet
        self.clock = clock
        size = shutil.get_terminal_size((100, 24))
        self.width = width if width is not None else size.columns
        self.height = height if height is not None else size.lines
        self._drawn = 0  # lines of the dashboard on screen, the cursor just below them
        self._last: float | None = None
        self._started = clock()

    def update(self, view: LiveView) -> None:
        """Called by the runner about once a second."""
        if self.quiet:
            return
        now = self.clock()
        if self.interactive:
            if self._last is None or now - self._last >= REDRAW_INTERVAL_S:
                self._last = now
                self._redraw(self.dashboard(view))
        elif now - (self._started if self._last is None else self._last) >= STATUS_INTERVAL_S:
            self._last = now
            self.out.write(self.format(view) + "\n")
            self.out.flush()

    def finish(self) -> None:
        """Leave the last dashboard on screen; the final table starts on the line below it."""
        self._drawn = 0
        self.out.flush()

    def format(self, view: LiveView) -> str:
        """The one-line status of a view (no line ending), printed every 10 s off a terminal."""
        parts = [
            _clock_text(view),
            f"users {view.users}",
            f"{number(view.rps)} req/s",
            f"requests {view.requests}",
            f"failures {view.failures} ({percent(view.failures, view.requests)})",
            f"p50/p95/p99 {number(view.p50)}/{number(view.p95)}/{number(view.p99)} ms",
        ]
        if view.dropped:
            parts.append(f"dropped {view.dropped}")
        parts.extend(_health_parts(view))
        metrics = _metric_parts(view)
        if metrics:
            parts.append("metrics " + ", ".join(metrics))
        return " | ".join(parts)

    def dashboard(self, view: LiveView) -> list[str]:
        """The lines of the terminal dashboard (no line endings, not yet cut to the width)."""
        clock = _clock_text(view)
        if view.duration_s:
            left = max(view.duration_s - view.elapsed_s, 0.0)
            clock += f" ({format_duration(left)} left)"
        totals = [
            f"users {view.users}",
            f"{number(view.rps)} req/s",
            f"requests {view.requests}",
            f"failures {view.failures} ({percent(view.failures, view.requests)})",
        ]
        if view.dropped:
            totals.append(f"dropped {view.dropped} (max_users busy)")
        lines = [
            f"yamlswarm  {clock}",
            "  ".join(totals),
            (
                f"last 10s  p50 {number(view.p50)} ms  p95 {number(view.p95)} ms  "
                f"p99 {number(view.p99)} ms"
            ),
        ]
        health = _health_parts(view)
        if health:
            lines.append("  ".join(health))
        lines.extend(_metrics_lines(view))
        if view.top_rows:
            lines.append("")
            lines.extend(self._rows_table(view))
        return lines

    def _rows_table(self, view: LiveView) -> list[str]:
        rows = [
            [
                one_line(f"{r.method} {r.name}"),  # a name can hold what the target sent
                str(r.requests),
                number(r.requests / view.elapsed_s) if view.elapsed_s > 0 else "0",
                f"{r.failures} ({percent(r.failures, r.requests)})",
                number(r.mean_ms),
            ]
            for r in view.top_rows
        ]
        table = tabulate(
            rows,
            headers=["busiest rows", "requests", "req/s", "failures", "mean ms"],
            tablefmt="plain",
            disable_numparse=True,
            colalign=("left", "right", "right", "right", "right"),
        )
        return [f"  {line}" for line in table.splitlines()]

    def _redraw(self, lines: list[str]) -> None:
        room = max(self.height - 1, 1)  # moving up past the top of the screen is not possible
        lines = [self._fit(line) for line in lines[:room]]
        frame = cursor_up(self._drawn) + "".join(f"{line}{CLEAR_EOL}\n" for line in lines)
        self.out.write(frame + CLEAR_BELOW)
        self.out.flush()
        self._drawn = len(lines)

    def _fit(self, line: str) -> str:
        if self.width > 1 and len(line) >= self.width:
            return line[: self.width - 1]  # a wrapped line would break the redraw
        return line


def _health_parts(view: LiveView) -> list[str]:
    """Schedule lag (open model) and the load generator's CPU and loop lag, when known."""
    parts = []
    lag = view.schedule_lag_ms
    if lag:
        parts.append(f"schedule lag p99 {number(lag['p99'])} ms max {number(lag['max'])} ms")
    gen = view.generator
    if gen:
        loop = gen.get("loop_lag_ms") or {}
        cpu = gen.get("cpu_pct_last", gen.get("cpu_pct", 0))
        text = f"generator CPU {cpu:.0f}% loop lag p99 {number(loop.get('p99', 0))} ms"
        parts.append(text + (" SATURATED" if gen.get("saturated") else ""))
    return parts


METRICS_PER_LINE = 4  # custom metrics on one line of the dashboard
MAX_METRIC_LINES = 3


def _metric_parts(view: LiveView) -> list[str]:
    """`name value` of each custom metric (a counter's total, a rate's %, a trend's mean)."""
    return [f"{one_line(name)} {metric_value(v)}" for name, v in view.metrics.items()]


def _metrics_lines(view: LiveView) -> list[str]:
    """The custom metrics, a few per line under a `metrics` label; the rest counted."""
    parts = _metric_parts(view)
    if not parts:
        return []
    shown = METRICS_PER_LINE * MAX_METRIC_LINES
    if len(parts) > shown:
        parts = [*parts[: shown - 1], f"(+{len(parts) - shown + 1} more)"]
    lines = [
        "  ".join(parts[i : i + METRICS_PER_LINE]) for i in range(0, len(parts), METRICS_PER_LINE)
    ]
    return [("metrics   " if i == 0 else "          ") + line for i, line in enumerate(lines)]


def _clock_text(view: LiveView) -> str:
    elapsed = format_duration(view.elapsed_s)
    return f"{elapsed}/{format_duration(view.duration_s)}" if view.duration_s else elapsed
