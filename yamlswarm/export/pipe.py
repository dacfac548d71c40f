"""Delivery off the load's path: a bounded queue drained by a thread of its own.

Under `yamlswarm run` gevent has patched `threading`, `queue` and sockets, so the
thread is a greenlet doing non-blocking IO; without the patch (a library caller)
it is a native thread. `put` never blocks: when the backend is so slow that the
queue is full, the oldest second is dropped (counters are cumulative, so the next
second carries them on). A failing backend is reported once, retried with a
growing pause while the run goes on, and its recovery is reported too.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["Pipe"]

QUEUE_SECONDS = 120  # seconds of data kept while a backend is down
MAX_BATCH = 30  # seconds sent in one delivery when catching up
RETRY_S = (1.0, 2.0, 5.0)  # pauses between attempts, the last one repeated


class Pipe:
    """Sends items to `deliver(list_of_items)` from a thread; failures are said once."""

    def __init__(
        self,
        label: str,
        deliver: Callable[[list[Any]], None],
        err: TextIO,
        *,
        capacity: int = QUEUE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self._deliver = deliver
        self._err = err
        self._sleep = sleep
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._failing = False
        self.dropped = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._drain, name=f"export {label}", daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        """Queue an item; never blocks (a full queue drops its oldest item)."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def finish(self) -> None:
        """No more items: deliver what is queued, then end the thread (see `wait`)."""
        self.put(_END)

    def wait(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for `finish`; True when everything was delivered."""
        self._thread.join(max(timeout, 0.0))
        done = not self._thread.is_alive() and not self._failing
        if not done:
            self._say("gave up at the end of the run; the last data were not delivered")
        return done

    def _drain(self) -> None:
        pending: list[Any] = []
        ended = False
        attempt = 0
        while not (ended and not pending):
            if not pending:
                item = self._queue.get()
                if item is _END:
                    ended = True
                    continue
                pending.append(item)
            while len(pending) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _END:
                    ended = True
                    break
                pending.append(item)
            if self._attempt(pending):
                self.delivered += len(pending)
                pending, attempt = [], 0
                continue
            if ended and attempt >= len(RETRY_S):
                return  # at the end, a few retries; then close() reports what is left
            self._sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
            attempt += 1

    def _attempt(self, batch: list[Any]) -> bool:
        try:
            self._deliver(batch)
        except Exception as exc:  # a backend's failure is data for the user, not a crash
            if not self._failing:
                self._failing = True
                self._say(f"failed: {_describe(exc)}; retrying while the run goes on")
            return False
        if self._failing:
            self._failing = False
            self._say("recovered")
        return True

    def _say(self, text: str) -> None:
        print(f"yamlswarm: export {self.label}: {text}", file=self._err, flush=True)


_END = object()


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
