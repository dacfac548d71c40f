"""The event-loop watchdog: a native thread that notices when the gevent loop is blocked.

Every virtual user shares one event loop. A hook that spins, a blocking read that
gevent cannot see or a CPU-bound step freezes all of them, and with them the
ticker that ends the run. The watchdog runs beside the loop:

- a heartbeat greenlet stamps the time every `BEAT_S`; a native thread compares
  that stamp with the clock and, when the loop has not come round for
  `BLOCKED_S`, names what blocked it (the innermost frame of the main thread
  outside yamlswarm and its libraries, and the step kind or hook around it);
- SIGINT / SIGTERM are caught by a Python-level handler, which runs between two
  bytecodes of whatever the main thread is doing, so Ctrl-C is seen even while
  the loop is blocked; the handler hands the signal to the loop;
- the thread ends the run itself when a second Ctrl-C has not ended it within
  `FORCE_S`, or when the loop is still blocked `stop_timeout` after the run
  should have ended (its duration, or the first Ctrl-C): `emergency(reason)`
  prints and writes the results so far, and the process exits with its code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import gevent
from gevent import monkey

BEAT_S = 0.05  # how often the loop stamps the time
BLOCKED_S = 1.0  # a loop that has not come round for this long is reported as blocked
POLL_S = 0.1  # how often the native thread looks
FORCE_S = 1.5  # a second Ctrl-C ends the process within this (plus writing the results)

_start_thread = monkey.get_original("_thread", "start_new_thread")
_thread_ident = monkey.get_original("_thread", "get_ident")
_sleep = monkey.get_original("time", "sleep")
_LIBRARIES = (
    str(Path(gevent.__file__).parent.parent),  # site-packages (gevent, greenlet, jinja2, ...)
    str(Path(os.__file__).parent),  # the standard library
)
_PACKAGE = str(Path(__file__).parent.parent)  # yamlswarm/


class Watchdog:
    """Watches one run's event loop and signals; `with Watchdog(...):` around the run."""

    def __init__(
        self,
        *,
        err: TextIO,
        on_signal: Callable[[], None],
        run_end: Callable[[], float | None],
        stop_timeout: float,
        emergency: Callable[[str], int] | None = None,
    ) -> None:
        """`on_signal()` runs in the loop for each SIGINT/SIGTERM; `run_end()` is the
        perf_counter time at which the run should end by its duration (None: unknown or
        not started); `emergency(reason)` writes the results so far and returns the exit
        code (None: only warn)."""
        self._err = err
        self._on_signal = on_signal
        self._run_end = run_end
        self._stop_timeout = stop_timeout
        self._emergency = emergency
        self._signal_times: list[float] = []
        self._beat = time.perf_counter()
        self._main = sys._current_frames  # looked up once; called from the thread
        self._main_ident = 0
        self._running = False
        self._reported: set[str] = set()
        self.signals = 0
        self.longest_block_s = 0.0
        self._heart: gevent.Greenlet | None = None
        self._previous: list[tuple[int, Any]] = []

    # -- the loop's side -------------------------------------------------------------

    def __enter__(self) -> Watchdog:
        self._main_ident = _thread_ident()  # the OS thread (patched threading names greenlets)
        self._running = True
        self._beat = time.perf_counter()
        self._heart = gevent.spawn(self._heartbeat)
        self._install_signals()
        _start_thread(self._watch, ())
        return self

    def __exit__(self, *exc: object) -> None:
        self._running = False
        if self._heart is not None:
            self._heart.kill(block=False)
        for signum, handler in self._previous:
            signal.signal(signum, handler)

    def _heartbeat(self) -> None:
        while True:
            self._beat = time.perf_counter()
            gevent.sleep(BEAT_S)

    def _install_signals(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous.append((signum, signal.signal(signum, self._signalled)))
            except (ValueError, OSError):  # not the main thread: the caller handles signals
                pass

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        # runs in the main thread between two bytecodes of whatever runs there: only
        # count the signal and let the loop act on it at its next turn
        self.signals += 1
        self._signal_times.append(time.perf_counter())
        gevent.get_hub().loop.run_callback(self._on_signal)

    # -- the thread's side -----------------------------------------------------------

    def _watch(self) -> None:
        episode = 0.0  # when the current blocked episode was first seen
        while self._running:
            _sleep(POLL_S)
            now = time.perf_counter()
            blocked = now - self._beat
            if blocked >= BLOCKED_S:
                self.longest_block_s = max(self.longest_block_s, blocked)
                if episode != self._beat:
                    episode = self._beat
                    self._report(blocked)
            if self._running and self._overdue(now, blocked):
                self._end(blocked)
                return

    def _overdue(self, now: float, blocked: float) -> bool:
        times = self._signal_times
        if len(times) >= 2:
            return now > times[1] + FORCE_S
        if blocked < BLOCKED_S:
            return False  # the loop runs: the runner's own stop handles the end
        end = times[0] if times else self._run_end()
        return end is not None and now > end + self._stop_timeout

    def _report(self, blocked: float) -> None:
        frame = self._main().get(self._main_ident)
        where = describe_block(frame)
        if where in self._reported:
            return
        self._reported.add(where)
        print(
            f"yamlswarm: warning: the event loop was blocked for {blocked:.1f} s by {where}; "
            "every virtual user waited. Use gevent-friendly I/O (the patched socket, "
            "gevent.sleep) and keep CPU-heavy work out of hooks.",
            file=self._err,
            flush=True,
        )

    def _end(self, blocked: float) -> None:
        if self.signals >= 2:
            reason = "interrupted twice"
        elif self.signals:
            reason = f"the event loop is still blocked {self._stop_timeout:g} s after Ctrl-C"
        elif blocked >= BLOCKED_S:
            reason = f"the event loop has been blocked for {blocked:.1f} s past the end of the run"
        else:
            reason = "the run did not stop in time"
        code = 130 if self.signals else 3
        if self._emergency is not None:
            try:
                code = self._emergency(reason)
            except Exception as exc:  # the results could not be written: say so, still exit
                print(f"yamlswarm: could not write the results: {exc!r:.300}", file=self._err)
        for stream in (sys.stdout, sys.stderr, self._err):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def describe_block(frame: FrameType | None) -> str:
    """What the main thread is running: the user's code (file:line in function) and the
    step kind or hook around it, e.g. "hooks/slow.py:7 in spin (in a `call:` step)"."""
    if frame is None:
        return "unknown code"
    own: str | None = None
    contexts: list[str] = []
    while frame is not None:
        path = frame.f_code.co_filename
        if own is None and not _is_library(path):
            own = f"{_short(path)}:{frame.f_lineno} in {frame.f_code.co_name}"
        if path.startswith(_PACKAGE):
            found = _context_of(Path(path))
            if found:
                contexts.append(found)
        frame = frame.f_back
    # the step kind says most ("in a `call:` step"); else the hook or template around it
    steps = [c for c in contexts if c.endswith("step")]
    context = (steps or contexts or [""])[0]
    if own is None:
        return context or "yamlswarm itself"
    return f"{own} ({context})" if context else own


def _is_library(path: str) -> bool:
    return path.startswith(_PACKAGE) or path.startswith(_LIBRARIES) or path.startswith("<")


def _context_of(path: Path) -> str | None:
    if path.parent.name == "kinds" and path.stem not in ("base", "__init__"):
        return f"in a `{path.stem.rstrip('_')}:` step"
    if path.name == "hook_calls.py":
        return "in a hook"
    if path.parent.name == "sandbox" or path.name == "templates.py":
        return "in a template"
    return None


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
