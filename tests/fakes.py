"""Test doubles of the runtime's seams: a virtual-time `FakeClock` and a `FakeTransport`.

With both, the user loop, the load controllers and the runner run without a
socket or a real sleep: a 60 s schedule takes milliseconds, and the same test
gives the same result every time.

FakeClock
    `now()` is virtual time; `sleep(s)` parks the calling greenlet on an event
    ordered by wake-up time (ties: first come, first woken). Nothing advances
    time but `run(fn)` (or `advance()` by hand): it runs `fn` in a greenlet and,
    whenever every greenlet is blocked, moves time to the earliest wake-up and
    wakes that sleeper. So a test drives any number of users deterministically.

FakeTransport
    `handler(request) -> Response` answers every request (default: 200, empty
    body); `sent` records each request in order. The handler runs inside the
    sending user's greenlet, so it may `clock.sleep(...)` to play latency.
"""

from __future__ import annotations

import heapq
import io
import itertools
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event

from yamlswarm.runtime.http.response import Headers, Response
from yamlswarm.runtime.http.transport import Request

__all__ = ["FakeClock", "FakeRun", "FakeTransport", "ok", "plan_from_yaml", "respond"]


class _Sleeper:
    __slots__ = ("event", "waiting", "wake")

    def __init__(self, wake: float) -> None:
        self.wake = wake
        self.event = Event()
        self.waiting = True


class FakeClock:
    """Virtual time for greenlets (see the module docstring); implements runtime.clock.Clock."""

    def __init__(self, start: float = 1000.0, epoch: float = 1_700_000_000.0) -> None:
        self.t = start
        self._epoch = epoch - start  # wall() = epoch at the start, then moves with now()
        self._heap: list[tuple[float, int, _Sleeper]] = []
        self._seq = itertools.count()

    # -- the Clock protocol -----------------------------------------------------

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self._epoch + self.t

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        sleeper = _Sleeper(self.t + seconds)
        heapq.heappush(self._heap, (sleeper.wake, next(self._seq), sleeper))
        try:
            sleeper.event.wait()
        finally:
            sleeper.waiting = False  # killed while asleep: its wake-up must not move time

    # -- driving ------------------------------------------------------------------

    @property
    def sleepers(self) -> int:
        """Greenlets asleep on this clock now."""
        return sum(1 for _, _, s in self._heap if s.waiting)

    def advance(self) -> bool:
        """Move time to the earliest wake-up and wake that sleeper (False: nobody sleeps)."""
        while self._heap:
            wake, _, sleeper = heapq.heappop(self._heap)
            if sleeper.waiting:
                self.t = max(self.t, wake)
                sleeper.event.set()
                return True
        return False

    def run(self, fn: Callable[..., Any], *args: Any, limit_s: float = 30.0) -> Any:
        """`fn(*args)` in a greenlet, time advancing whenever all greenlets are blocked.

        Returns what `fn` returned (re-raises what it raised). `limit_s` is a real-time
        guard against a test that never ends.
        """
        task = gevent.spawn(fn, *args)
        deadline = time.monotonic() + limit_s
        while not task.dead:
            gevent.idle()  # every runnable greenlet has run and is blocked again
            if task.dead:
                break
            if not self.advance():
                gevent.sleep(0.001)  # blocked on something real (a join with a timeout)
            if time.monotonic() > deadline:
                task.kill(block=True)
                raise TimeoutError(f"{fn!r} still running after {limit_s} s of real time")
        return task.get()


def respond(
    request: Request,
    status: int = 200,
    body: bytes = b"{}",
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """A response to `request`, as a handler returns it."""
    return Response(request.method, request.url, status, Headers(headers or []), body)


def ok(request: Request) -> Response:
    """The default handler: 200 with an empty JSON object."""
    return respond(request)


class FakeTransport:
    """A transport that answers with `handler(request)` and records every request it is sent.

    `sent` and `times` may be lists shared by several transports (one per user);
    `times` gets `clock.now()` of each send when a clock is given.
    """

    def __init__(
        self,
        handler: Callable[[Request], Response] = ok,
        *,
        sent: list[Request] | None = None,
        times: list[float] | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.handler = handler
        self.sent: list[Request] = sent if sent is not None else []
        self.times: list[float] = times if times is not None else []
        self.clock = clock
        self.closed = 0

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        self.times.append(self.clock.now() if self.clock is not None else 0.0)
        response = self.handler(request)
        if not response.url:
            response.url = request.url
        return response

    def close(self) -> None:
        self.closed += 1


class FakeRun:
    """A real `Runner` on a `FakeClock`, each user with a `FakeTransport` sharing one log.

    `run()` runs the plan to its end in virtual time and returns the runner;
    `sent` / `times` then hold every request of every user and when it was sent
    (seconds since the start: `at()`).
    """

    def __init__(
        self,
        plan: Any,
        settings: Any = None,
        handler: Callable[[Request], Response] = ok,
        hooks: Any = None,
        trace: Any = None,
        observers: Any = None,
    ) -> None:
        from yamlswarm.runtime.runner import Runner
        from yamlswarm.settings import RunSettings

        self.clock = FakeClock()
        self.sent: list[Request] = []
        self.times: list[float] = []
        self.transports: list[FakeTransport] = []
        self.err = io.StringIO()
        self.runner = Runner(
            plan,
            settings or RunSettings(seed=1),
            hooks=hooks,
            out=io.StringIO(),
            err=self.err,
            trace=trace,
            clock=self.clock,
            transport_factory=self._transport,
            observers=observers,
        )
        self._handler = handler

    def _transport(self) -> FakeTransport:
        transport = FakeTransport(self._handler, sent=self.sent, times=self.times, clock=self.clock)
        self.transports.append(transport)
        return transport

    def run(self, limit_s: float = 30.0) -> Any:
        self.clock.run(self.runner.run, limit_s=limit_s)
        return self.runner

    def at(self) -> list[float]:
        """When each request was sent, in seconds since the run started."""
        return [round(t - self.runner.started_at, 6) for t in self.times]

    def urls(self) -> list[str]:
        return [request.url for request in self.sent]


def plan_from_yaml(tmp_path: Any, text: str, settings: Any = None) -> Any:
    """The runnable plan of a scenario text, through the real pipeline (host defaults to a
    fake one: the transport is fake anyway)."""
    import textwrap

    from yamlswarm.run import load_plan
    from yamlswarm.settings import RunSettings

    body = textwrap.dedent(text).strip()
    if "\nhost:" not in f"\n{body}":
        body = f"host: http://fake.test\n{body}"
    path = tmp_path / "scenario.yaml"
    path.write_text(f"version: 1\n{body}\n", encoding="utf-8")
    return load_plan(path, settings or RunSettings(seed=1))
