"""Threads that hook code left running when the command is done: named, then not waited for.

Python waits for every non-daemon thread before the process ends, so a thread a hook
started (a poller, a client library's background loop) would keep yamlswarm alive
after its results were printed and written. The entry point asks `stragglers()` at
the very end; if any remain, `exit_now` prints one warning naming them, flushes the
output and ends the process with the command's exit code (`os._exit`: atexit handlers
and those threads do not run any further).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["describe", "exit_now", "stragglers"]


def stragglers() -> list[threading.Thread]:
    """The non-daemon threads, other than the main one, still alive."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and t.is_alive() and not t.daemon]


def describe(thread: threading.Thread) -> str:
    """`'poller' (hooks.py:12 poll_forever)`: the thread's name and, when known, the code it runs."""
    code = _code_of(thread)
    if code is None:
        return repr(thread.name)
    where = f"{_short(code.co_filename)}:{code.co_firstlineno} {code.co_name}"
    return f"{thread.name!r} ({where})"


def exit_now(code: Any, threads: list[threading.Thread], err: Any = None) -> None:
    """Warn about `threads`, flush, and end the process with `code` (a SystemExit code)."""
    err = err or sys.stderr
    named = ", ".join(describe(t) for t in threads)
    plural = "s" if len(threads) != 1 else ""
    print(
        f"yamlswarm: warning: {len(threads)} non-daemon thread{plural} started by hook code "
        f"still running: {named}; exiting without waiting for {'them' if plural else 'it'} "
        "(start such threads with daemon=True, or stop them in on_test_stop)",
        file=err,
        flush=True,
    )
    if isinstance(code, str):  # sys.exit("message"): printed, exit code 1
        print(code, file=err)
        code = 1
    for stream in (sys.stdout, sys.stderr, err):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0 if code is None else int(code))


def _code_of(thread: threading.Thread) -> Any:
    target: Callable[..., Any] | None = getattr(thread, "_target", None)
    if target is None and type(thread).run is not threading.Thread.run:
        target = type(thread).run  # a Thread subclass with its own run()
    target = getattr(target, "__func__", target)  # a bound method
    return getattr(target, "__code__", None)


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
