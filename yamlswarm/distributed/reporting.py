"""The merged numbers of a distributed run: the once-a-second tick and the final report.

`ClusterReport` knows nothing of sockets or of the master: the master makes
one when the load starts, feeds it what the workers report (`merge`), lets
it tick (`start_ticker`, given how to count the users and how to stop the
workers) and, at the end, tells it what became of each worker (`finish`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import gevent

from yamlswarm import plan as p
from yamlswarm.distributed.exports import check_export
from yamlswarm.distributed.messages import ProtocolError
from yamlswarm.errors import ClusterError
from yamlswarm.observing import ObserveEnv, build_observers
from yamlswarm.runtime.observers import Tick
from yamlswarm.settings import RunSettings

__all__ = ["ClusterReport", "WorkerOutcome", "cluster_summary", "lost_summary"]


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    """How a worker that was given a share ended; `lost_reason` is None unless it was lost."""

    worker_id: str
    name: str
    lost_reason: str | None = None

    @property
    def lost(self) -> bool:
        return self.lost_reason is not None


def lost_summary(outcomes: Sequence[WorkerOutcome]) -> str:
    """`lost workers: w2 (no heartbeat for 10s)`, or "" when none was lost."""
    lost = [w for w in outcomes if w.lost]
    if not lost:
        return ""
    return "lost workers: " + ", ".join(f"{w.worker_id} ({w.lost_reason})" for w in lost)


class ClusterReport:
    """The merged statistics of one distributed run, from its start to its final table."""

    def __init__(
        self,
        plan: p.Plan,
        settings: RunSettings,
        *,
        out: TextIO,
        err: TextIO,
        steering: Any = None,
    ) -> None:
        """`steering`: the start gate and targets of a run steered from the web UI (--web)."""
        from yamlswarm.runtime.stats import Stats

        self.plan = plan
        self.settings = settings
        self.out = out
        self.err = err
        self.stats = Stats()
        self.stats.epochs.merged = True  # the timeline: workers' wall-clock seconds, merged
        self.stats.metrics.declare(plan.metrics)  # shown at 0 even if no worker reports one
        self.started = time.perf_counter()
        self.aborted: str | None = None  # the aborting threshold that failed
        self.interrupted = False
        self._aborting = tuple(t for t in plan.thresholds if t.abort)
        self._live: Any = None
        self.generators: dict[str, dict[str, Any]] = {}  # worker id -> its health report
        self.observers = build_observers(ObserveEnv(plan, settings, out, err, "master", steering))

    def merge(self, worker_id: str, data: dict[str, Any]) -> None:
        """Add a worker's report; ProtocolError (nothing merged) when it is malformed."""
        rows = self.stats.rows
        check_export(data, len(rows), rows.__contains__)
        try:
            self.stats.merge(data)
        except Exception as exc:  # a histogram whose counters do not decode, after the checks
            raise ProtocolError(f"a report that does not merge ({exc!r:.200})") from None
        report = data.get("generator")
        if report:
            known = self.generators.get(worker_id, {})
            if report.get("warnings") and not known.get("warnings"):
                for warning in report["warnings"]:
                    print(f"warning: worker {worker_id}: {warning}", file=self.err, flush=True)
            self.generators[worker_id] = dict(report)
            self.stats.generator = busiest_generator(self.generators)

    # ------------------------------------------------------------------ once a second

    def start_ticker(
        self, users: Callable[[], int], stop_all: Callable[[str], None]
    ) -> gevent.Greenlet:
        """Once a second: close the merged second, show progress, check aborting thresholds.

        `users()` counts the users of the running workers; `stop_all(reason)`
        stops them when an aborting threshold fails.
        """
        from yamlswarm.report.live import LiveProgress

        settings = self.settings
        self._live = LiveProgress(self.out, interactive=settings.interactive, quiet=settings.quiet)
        self.stats.start()
        return gevent.spawn(self._tick_loop, users, stop_all)

    def _tick_loop(self, users: Callable[[], int], stop_all: Callable[[str], None]) -> None:
        next_tick = self.started + 1.0
        while True:
            gevent.sleep(max(0.0, next_tick - time.perf_counter()))
            next_tick += 1.0
            self.tick(users(), stop_all)

    def tick(self, users: int, stop_all: Callable[[str], None]) -> None:
        """One second of the run: timeline row, live view, aborting thresholds."""
        from yamlswarm.runtime.slo import first_abort

        second = self.stats.tick(users)
        if self.observers:
            elapsed = time.perf_counter() - self.started
            self.observers.second(Tick(self.stats, users, elapsed, second))
        if self._live is not None:
            self._live.update(self.stats.live_view(users, self._duration()))
        if self._aborting and self.aborted is None:
            failed = first_abort(self._aborting, self.stats, time.perf_counter() - self.started)
            if failed is not None:
                self.aborted = failed
                stop_all(f"threshold failed: {failed}")

    def _duration(self) -> float | None:
        if self.settings.duration is not None:
            return self.settings.duration
        return getattr(self.plan.load, "duration", None)

    # ------------------------------------------------------------------ the end

    def finish(self, outcomes: Sequence[WorkerOutcome], *, hook_ctx: object) -> int:
        """The merged result: table, thresholds, outputs, what was lost; returns the exit code.

        `outcomes` are the workers that were given a share; `hook_ctx` is the
        `ctx` handed to the hook modules' `on_test_stop(ctx, result)`.
        """
        from yamlswarm.run import finish_run

        elapsed = time.perf_counter() - self.started
        self.stats.tick(0, final=True)  # every merged second, the last ones too
        if self._live is not None:
            self._live.finish()
        code = finish_run(
            self.plan,
            self.settings,
            self.stats,
            elapsed=elapsed,
            interrupted=self.interrupted,
            aborted=self.aborted,
            out=self.out,
            err=self.err,
            extra={**cluster_summary(outcomes), "generators": dict(self.generators)},
            on_test_stop=self._on_test_stop(hook_ctx),
            observers=self.observers,
        )
        summary = lost_summary(outcomes)
        if summary:
            print(summary, file=self.out, flush=True)
        if outcomes and all(w.lost for w in outcomes):
            print(
                "error: every worker was lost; the numbers above are what they reported before",
                file=self.err,
                flush=True,
            )
            return ClusterError.exit_code
        return code

    def _on_test_stop(self, hook_ctx: object) -> Callable[[Any], Any] | None:
        """`on_test_stop(ctx, result)` of the hook modules, called once, here, with the merged result.

        Workers report deltas and hold no whole result, so the master is the process that calls it.
        """
        if not self.plan.hooks:
            return None
        from yamlswarm.hookmodules import (
            load_hooks,
        )  # already imported (and cached) by the compiler
        from yamlswarm.runtime.hook_calls import HookRunner

        hooks = HookRunner(load_hooks(self.plan.hooks), err=self.err)
        if not hooks.on_test_stop:
            return None
        return lambda result: hooks.call_each(hooks.on_test_stop, hook_ctx, result)


def busiest_generator(generators: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The health report of the busiest worker (any saturated one first), named by worker."""
    worker, report = max(
        generators.items(), key=lambda kv: (bool(kv[1].get("saturated")), kv[1].get("cpu_pct", 0))
    )
    return {**report, "worker": worker}


def cluster_summary(outcomes: Sequence[WorkerOutcome]) -> dict[str, Any]:
    """The `cluster` object of the JSON result: how many workers, which were lost and why."""
    return {
        "workers": len(outcomes),
        "lost_workers": [
            {"worker": w.worker_id, "name": w.name, "reason": w.lost_reason}
            for w in outcomes
            if w.lost
        ],
    }
