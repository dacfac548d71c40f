"""Live progress: one line redrawn in place on a terminal, else a status line every 10 s."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from yamlswarm.report.table import number, percent
from yamlswarm.result import LiveView
from yamlswarm.units import format_duration

__all__ = ["LiveProgress", "LiveView"]

CLEAR_EOL = "\x1b[K"
REDRAW_INTERVAL_S = 0.9  # "about once a second" even if updates come a little early
STATUS_INTERVAL_S = 10.0


class LiveProgress:
    """Shows a `LiveView` once a second; subclass and override `format` for richer output."""

    def __init__(
        self,
        out: TextIO,
        *,
        interactive: bool,
        quiet: bool,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.out = out
        self.interactive = interactive
        self.quiet = quiet
        self.clock = clock
        self.width = width if width is not None else shutil.get_terminal_size((100, 24)).columns
        self._drawn = False  # a line is on screen, not yet ended
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
                self._redraw(self.format(view))
        elif now - (self._started if self._last is None else self._last) >= STATUS_INTERVAL_S:
            self._last = now
            self.out.write(self.format(view) + "\n")
            self.out.flush()

    def finish(self) -> None:
        """End the progress line so that the final table starts on a fresh line."""
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False

    def format(self, view: LiveView) -> str:
        """The status text of one view (no line ending)."""
        elapsed = format_duration(view.elapsed_s)
        if view.duration_s:
            elapsed = f"{elapsed}/{format_duration(view.duration_s)}"
        parts = [
            elapsed,
            f"users {view.users}",
            f"{number(view.rps)} req/s",
            f"requests {view.requests}",
            f"failures {view.failures} ({percent(view.failures, view.requests)})",
            f"p50/p95/p99 {number(view.p50)}/{number(view.p95)}/{number(view.p99)} ms",
        ]
        if view.dropped:
            parts.append(f"dropped {view.dropped}")
        return " | ".join(parts)

    def _redraw(self, line: str) -> None:
        if self.width > 1 and len(line) >= self.width:
            line = line[: self.width - 1]  # a wrapped line could not be redrawn in place
        self.out.write(f"\r{line}{CLEAR_EOL}")
        self.out.flush()
        self._drawn = True
