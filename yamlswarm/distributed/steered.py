"""A distributed run steered from the master's web UI: the start gate and relayed targets.

`MasterControl` is what the master's `Steering` (runtime.steering) hands its
commands to: stop and reset act on the master, new users, spawn rate and
arrival rate are split across the running workers like the shares are (each
worker's `Steer` message), and the page's worker table comes from here.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

import gevent

from yamlswarm.distributed import messages as m

if TYPE_CHECKING:
    from yamlswarm.runtime.steering import Steering


class MasterControl:
    """The master as a steering sees it (runtime.steering.Steerable)."""

    def __init__(self, master: Any, steering: Steering) -> None:
        """`master`: the distributed.master.Master (not imported: it imports this module)."""
        self.master = master
        self.steering = steering
        self.started_at: float | None = None
        self._sent: tuple[Any, ...] = ()
        steering.attach(self)
        steering.on_change(self.relay)

    # -- Steerable -------------------------------------------------------------------

    @property
    def stats(self) -> Any:
        report = self.master.report
        return report.stats if report is not None else None

    @property
    def active_users(self) -> int:
        return sum(w.users for w in self.master.workers.values() if w.state == "running")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at if self.started_at is not None else 0.0

    def stop(self, reason: str) -> None:
        self.master.stop_all(reason)

    def reset_stats(self) -> None:
        if self.master.report is not None:
            self.master.report.stats.export(reset=True)  # workers report deltas: this is all

    # -- the page's worker table -------------------------------------------------------

    def worker_rows(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "worker": w.worker_id,
                "name": w.name,
                "state": w.state,
                "users": w.users,
                "last_seen_s": round(now - w.last_seen, 1),
                "lost_reason": w.lost_reason or None,
            }
            for w in self.master.workers.values()
            if w.index >= 0 or w.state in ("ready", "running")
        ]

    # -- start and steer ---------------------------------------------------------------

    def wait_for_start(self) -> bool:
        """Block until Start in the page (True) or Stop / Ctrl-C before it (False)."""
        stopped = gevent.event.Event()
        handlers = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers.append(gevent.signal_handler(sig, stopped.set))
            except (ValueError, OSError):
                pass
        try:
            gevent.wait([self.steering.started, stopped], count=1)
        finally:
            for handler in handlers:
                handler.cancel()
        if stopped.is_set():
            self.steering.stop("interrupted")
            return False
        self.started_at = time.perf_counter()
        return self.steering.state not in ("stopping", "stopped")

    def relay(self) -> None:
        """Send each running worker its share of the current targets (when they changed)."""
        steering = self.steering
        if self.started_at is None:
            return
        targets = (steering.users, steering.spawn_rate, steering.rate)
        if targets == self._sent:
            return
        self._sent = targets
        running = sorted(
            (w for w in self.master.workers.values() if w.state == "running"),
            key=lambda w: w.index,
        )
        if not running:
            return
        count = len(running)
        base, extra = divmod(steering.users, count)
        for position, worker in enumerate(running):
            users = base + (1 if position < extra else 0) if steering.steerable_users else None
            rate = steering.rate / count if steering.rate is not None else None
            spawn = steering.spawn_rate / count if steering.spawn_rate else None
            self.master.send(worker, m.Steer(users, spawn, rate))
