"""The live board: what the page shows, built once a second and shared by every browser.

Once a second (`second`) the board turns the run's statistics into one JSON
message, O(rows), and hands the same encoded bytes to every connected client.
Each client has a small bounded queue: a browser that reads slowly or not at
all only loses its own older messages, never slows the load or the others.
With no client connected the board does nothing but count per-row requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from gevent.queue import Empty, Full, Queue

if TYPE_CHECKING:
    from yamlswarm import plan as p
    from yamlswarm.result import RunResult
    from yamlswarm.runtime.stats import RowStats, Stats
    from yamlswarm.runtime.steering import Steering

CLIENT_QUEUE = 4  # messages a client may fall behind before its oldest are dropped
MAX_CLIENTS = 64
MAX_ERRORS = 100  # error groups sent to the page (the most frequent)
KEEPALIVE_S = 15.0
LATENCY_KEYS = ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")


class Client:
    """One connected browser: a bounded queue of encoded messages."""

    __slots__ = ("dropped", "queue")

    def __init__(self) -> None:
        self.queue: Queue = Queue(maxsize=CLIENT_QUEUE)
        self.dropped = 0

    def offer(self, message: bytes) -> None:
        """Queue `message`; when full, drop the oldest (each message is a whole picture)."""
        try:
            self.queue.put_nowait(message)
        except Full:
            self.dropped += 1
            try:
                self.queue.get_nowait()
            except Empty:
                pass
            try:
                self.queue.put_nowait(message)
            except Full:
                pass

    def messages(self, first: bytes) -> Iterator[bytes]:
        """The SSE stream: `first`, then every message offered, with keep-alive comments."""
        yield first
        while True:
            try:
                yield self.queue.get(timeout=KEEPALIVE_S)
            except Empty:
                yield b": keep-alive\n\n"


class Board:
    """The live state of one run as the page sees it."""

    def __init__(
        self,
        plan: p.Plan,
        steering: Steering,
        *,
        role: str,
        elapsed: Callable[[], float],
        workers: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.plan = plan
        self.steering = steering
        self.role = role
        self.elapsed = elapsed
        self.workers = workers or steering.workers
        self._stats: Stats | None = None
        self.result: RunResult | None = None
        self.clients: set[Client] = set()
        self.point: dict[str, Any] | None = None  # the last second's timeline point
        self._last_counts: dict[tuple[str, str], int] = {}
        self._current_rps: dict[tuple[str, str], float] = {}
        self._generator: dict[str, float] = {"cpu_pct": 0.0, "loop_lag_ms": 0.0}
        steering.on_change(self.push)

    # -- fed by the run ---------------------------------------------------------------

    def second(self, stats: Stats, users: int, point: dict[str, Any]) -> None:
        """A second has closed: remember the numbers; if anyone watches, tell them."""
        self._stats, self.point = stats, point
        self._generator = _generator(stats.generator)
        self._count_current(stats)
        if self.steering.state == "spawning":  # a master runs no controller of its own
            self.steering.spawned(self.steering.active_users())
        if self.clients:
            self.push()

    @property
    def stats(self) -> Stats | None:
        """The run's statistics, live (those of the last tick when the run gives none)."""
        return self.steering.stats() or self._stats

    def finish(self, result: RunResult | None) -> None:
        self.result = result
        self.steering.finished()

    def _count_current(self, stats: Stats) -> None:
        """Requests per second of each row over the last second (O(rows))."""
        last, current = self._last_counts, self._current_rps
        for key, row in stats.rows.items():
            n = row.lat.n
            before = last.get(key, 0)
            current[key] = float(n - before) if n >= before else float(n)
            last[key] = n

    # -- clients ----------------------------------------------------------------------

    def connect(self) -> Client | None:
        """A new browser (None when too many are connected)."""
        if len(self.clients) >= MAX_CLIENTS:
            return None
        client = Client()
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def push(self) -> None:
        """Send the current picture to every client (the same bytes to all)."""
        if not self.clients:
            return
        message = sse("update", self.snapshot())
        for client in tuple(self.clients):
            client.offer(message)

    def hello(self) -> bytes:
        """What a new client gets first: the history so far, then the current picture."""
        timeline = self.stats.timeline if self.stats is not None else []
        history = [point_of(t) for t in timeline]
        return sse("history", history) + sse("update", self.snapshot())

    # -- the picture --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows now, as one JSON-ready dict (O(rows))."""
        steering, stats = self.steering, self.stats
        rows = [] if stats is None else [self._row(r) for r in _sorted(stats)]
        return {
            "state": self.state,
            "scenario": self.plan.name,
            "host": self.plan.host,
            "model": steering.kind,
            "role": self.role,
            "users": 0 if self.result is not None else steering.active_users(),
            "target_users": steering.users,
            "spawn_rate": steering.spawn_rate,
            "rate": steering.rate,
            "elapsed": round(self.elapsed(), 1) if steering.started.is_set() else 0.0,
            "point": self.point,
            "totals": self._totals(stats),
            "rows": rows,
            "errors": _errors(stats),
            "thresholds": self._thresholds(stats),
            "metrics": _metrics(stats, self.elapsed()),
            "workers": self.workers(),
            "generator": self._generator,
            "finished": self.result is not None,
            "browsers": len(self.clients),
        }

    @property
    def state(self) -> str:
        if self.result is not None:
            return "stopped"
        return self.steering.state

    def _row(self, row: RowStats) -> dict[str, Any]:
        latency = row.lat.latency()
        n = row.lat.n
        return {
            "name": row.name,
            "method": row.method,
            "requests": n,
            "failures": row.failures,
            "fail_pct": round(100.0 * row.failures / n, 2) if n else 0.0,
            "rps": _rate(n, self.elapsed()),
            "current_rps": self._current_rps.get((row.name, row.method), 0.0),
            "size_mean": round(row.size_bytes / row.requests, 1) if row.requests else 0.0,
            **{key: getattr(latency, key) for key in LATENCY_KEYS},
        }

    def _totals(self, stats: Stats | None) -> dict[str, Any]:
        if stats is None:
            return {"requests": 0, "failures": 0, "fail_pct": 0.0, "rps": 0.0}
        lat, _, failures = stats.aggregate()
        latency = lat.latency()
        point = self.point or {}
        return {
            "requests": lat.n,
            "failures": failures,
            "fail_pct": round(100.0 * failures / lat.n, 2) if lat.n else 0.0,
            "rps": _rate(lat.n, self.elapsed()),
            "current_rps": point.get("rps", 0.0),
            "current_fail_per_s": point.get("failures_per_s", 0.0),
            **{key: getattr(latency, key) for key in LATENCY_KEYS},
        }

    def _thresholds(self, stats: Stats | None) -> list[dict[str, Any]]:
        if stats is None or not self.plan.thresholds:
            return []
        from yamlswarm.runtime.slo import evaluate

        elapsed = self.elapsed()
        return [evaluate(t, stats, elapsed).to_dict() for t in self.plan.thresholds]


def _metrics(stats: Stats | None, elapsed: float) -> dict[str, dict[str, Any]]:
    """The custom metrics now, as the result's `metrics` has them (empty without any)."""
    if stats is None:
        return {}
    from yamlswarm.export.sample import Sampler

    return Sampler.metrics(stats, elapsed)


def _generator(report: dict[str, Any] | None) -> dict[str, float]:
    """The load generator's last second, from runtime.health's report (on a master: the
    busiest worker's): CPU share and event-loop lag p99."""
    report = report or {}
    return {
        "cpu_pct": float(report.get("cpu_pct_last", 0.0)),
        "loop_lag_ms": float(report.get("loop_lag_ms_last", 0.0)),
    }


def _sorted(stats: Stats) -> list[RowStats]:
    return [stats.rows[k] for k in sorted(stats.rows) if stats.rows[k].lat.n]


def _errors(stats: Stats | None) -> list[dict[str, Any]]:
    if stats is None:
        return []
    from yamlswarm.runtime.stats_results import TRANSACTION_METHODS

    groups = [
        {"name": row.name, "method": row.method, "error": error, "count": group[0]}
        for row in stats.rows.values()
        if row.method not in TRANSACTION_METHODS
        for error, group in row.errors.items()
    ]
    groups.sort(key=lambda e: (-e["count"], e["name"], e["error"]))
    return groups[:MAX_ERRORS]


def point_of(row: Any) -> dict[str, Any]:
    """A timeline row as the page's charts take it."""
    return row.to_dict()


def _rate(n: int, elapsed: float) -> float:
    return round(n / elapsed, 2) if elapsed > 0 else 0.0


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Events message (JSON data on one line)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    return f"event: {event}\ndata: {text}\n\n".encode()
