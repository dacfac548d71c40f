"""The master's view of a running cluster: the once-a-second tick and the final report."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import gevent

from yamlswarm.errors import ClusterError

if TYPE_CHECKING:
    from yamlswarm.distributed.master import Master, _Run

__all__ = ["finish", "lost_summary", "start_ticker"]


def start_ticker(master: Master, state: _Run) -> gevent.Greenlet:
    """Once a second: close the merged second, show progress, check aborting thresholds."""
    from yamlswarm.report.live import LiveProgress
    from yamlswarm.runtime.slo import first_abort

    settings = master.settings
    live = LiveProgress(master.out, interactive=settings.interactive, quiet=settings.quiet)
    master.live = live
    aborting = tuple(t for t in master.plan.thresholds if t.abort)
    duration = (
        settings.duration
        if settings.duration is not None
        else getattr(master.plan.load, "duration", None)
    )
    state.stats.start()

    def tick() -> None:
        next_tick = state.started + 1.0
        while True:
            gevent.sleep(max(0.0, next_tick - time.perf_counter()))
            next_tick += 1.0
            users = sum(w.users for w in master._running())
            state.stats.tick(users)
            live.update(state.stats.live_view(users, duration))
            if aborting and state.aborted is None:
                failed = first_abort(aborting, state.stats, time.perf_counter() - state.started)
                if failed is not None:
                    state.aborted = failed
                    master.stop_all(f"threshold failed: {failed}")

    return gevent.spawn(tick)


def lost_summary(master: Master) -> str:
    """`lost workers: w2 (no heartbeat for 10s)`, or "" when none was lost."""
    lost = [w for w in master.workers.values() if w.state == "lost" and w.index >= 0]
    if not lost:
        return ""
    return "lost workers: " + ", ".join(f"{w.worker_id} ({w.lost_reason})" for w in lost)


def _on_test_stop(master: Master) -> Any:
    """`on_test_stop(ctx, result)` of the hook modules, called once, here, with the merged result.

    Workers report deltas and hold no whole result, so the master is the process that calls it.
    """
    if not master.plan.hooks:
        return None
    from yamlswarm.hookmodules import load_hooks  # already imported (and cached) by the compiler
    from yamlswarm.runtime.hook_calls import HookRunner

    hooks = HookRunner(load_hooks(master.plan.hooks), err=master.err)
    if not hooks.on_test_stop:
        return None
    return lambda result: hooks.call_each(hooks.on_test_stop, master, result)


def finish(master: Master, state: _Run) -> int:
    """The merged result: table, thresholds, outputs, what was lost; returns the exit code."""
    from yamlswarm.run import finish_run

    elapsed = time.perf_counter() - state.started
    state.stats.tick(0)
    if master.live is not None:
        master.live.finish()
    assigned = [w for w in master.workers.values() if w.index >= 0]
    summary = lost_summary(master)
    extra: dict[str, Any] = {
        "workers": len(assigned),
        "lost_workers": [
            {"worker": w.worker_id, "name": w.name, "reason": w.lost_reason}
            for w in assigned
            if w.state == "lost"
        ],
    }
    code = finish_run(
        master.plan,
        master.settings,
        state.stats,
        elapsed=elapsed,
        interrupted=state.interrupted,
        aborted=state.aborted,
        out=master.out,
        err=master.err,
        extra=extra,
        on_test_stop=_on_test_stop(master),
    )
    if summary:
        print(summary, file=master.out, flush=True)
    if assigned and all(w.state == "lost" for w in assigned):
        print(
            "error: every worker was lost; the numbers above are what they reported before",
            file=master.err,
            flush=True,
        )
        return ClusterError.exit_code
    return code
