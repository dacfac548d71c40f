"""A virtual user: its variables, data rows, transport and the loop over flow iterations.

A user knows the run only through its `RunContext` (stats, hooks, feeds,
clock, the shared `RunState`), never the runner: the same loop runs under the
real runner and in unit tests on a fake clock and a fake transport.
"""

from __future__ import annotations

import copy
import json as _json
import random
from collections.abc import Mapping
from typing import Any

from gevent import Greenlet, GreenletExit

from yamlswarm.runtime.context import Executor, RunContext
from yamlswarm.runtime.data import UserData
from yamlswarm.runtime.http.message import DEFAULT_BODY_LIMIT
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.transport import Request, Transport
from yamlswarm.runtime.metrics import Metric
from yamlswarm.runtime.request import record_redirects
from yamlswarm.runtime.signals import StopIterationSignal, StopSignal, StopTest, StopUser
from yamlswarm.runtime.stats import INTERRUPTED
from yamlswarm.runtime.usertypes import CompiledUserType


class UserInfo:
    """`user` in templates: `user.id`, `user.name`."""

    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


class VirtualUser:
    """One simulated person. Hooks receive this object: `vars`, `id`, `name`, `request(...)`, `rng`,
    `metrics` (the declared custom metrics by name, read-only: `runtime.metrics`)."""

    def __init__(
        self,
        ctx: RunContext,
        kind: CompiledUserType,
        user_id: int,
        seed: int,
        transport: Transport,
    ) -> None:
        self.ctx = ctx
        self.kind = kind
        self.id = user_id
        self.name = kind.name
        self.rng = random.Random(seed)
        self.metrics: Mapping[str, Metric] = ctx.stats.metrics
        self.transport = transport
        self.session_headers = dict(kind.session_headers)  # set_header / unset_header change it
        self.extra_transports: list[Transport] = []  # `parallel:` steps' pool, made on first use
        self.data = UserData(ctx.feeds)
        self.iteration = 0
        self.vars: dict[str, Any] = dict(ctx.template_globals)
        if ctx.user_variables:  # lists and maps of `variables:`: this user's own copies
            self.vars.update(copy.deepcopy(dict(ctx.user_variables)))
        self.vars.update(user=UserInfo(user_id, kind.name), data=self.data, iteration=0)
        self.stop_on_failure = False
        self.in_on_stop = False
        self.busy = False
        self.retired = False  # a stages run ramping down asked this user to stop
        self.alive = True  # False once the user stopped (on_stop ran)
        self.started = False
        self.greenlet: Greenlet | None = None
        self._lag: float | None = None  # open model: this iteration's schedule lag (s)
        self._requested = False  # a request of this iteration was sent (so it counts)
        self._state = ctx.state
        self._now = ctx.clock.now  # bound once: as cheap as calling perf_counter

    # -- for hooks ------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        name: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
        json: Any = None,
        timeout: float = 30.0,
    ) -> Response:
        """Make a request recorded in the stats (row `name`, default the URL)."""
        method = method.upper()
        header_items = list((headers or {}).items())
        if json is not None:
            body = _json.dumps(json).encode()
            header_items.append(("Content-Type", "application/json"))
        elif isinstance(body, str):
            body = body.encode()
        row = self.ctx.stats.row(name or url, method)
        request = Request(method, url, header_items, body, timeout=timeout, keep=DEFAULT_BODY_LIMIT)
        start = self._now()
        response = self.transport.send(request)
        response.elapsed = self._now() - start
        if response.redirects:  # counted as the request steps count them
            record_redirects(self.ctx.stats, row, response.redirects, response.elapsed)
        error = response.error or (f"HTTP {response.status}" if response.status >= 400 else None)
        if error:
            row.failure(response.elapsed, error)
        else:
            row.success(response.elapsed)
        return response

    # -- used by steps -------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.retired or self._state.stopping

    def take_intended_start(self) -> float | None:
        """Called by the request executor just before each send: the time latency counts from.

        In the open model the first request of an iteration is charged the iteration's
        schedule lag (how late it started), and only that: not `on_start`, not a `think`
        or other steps before it. None: from the actual send.
        """
        self._requested = True
        lag = self._lag
        if lag is None:
            return None
        self._lag = None
        return self._now() - lag

    def sleep(self, seconds: float) -> None:
        """Pause this user on the run's clock (other users run meanwhile)."""
        if seconds > 0:
            self.ctx.clock.sleep(seconds)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        """Greenlet body of a closed-model user: on_start, iterations until stopped, on_stop."""
        state = self._state
        try:
            self._start()
            while not self.stopping:
                if not state.take_iteration():
                    break
                self.iterate()
        except StopUser:
            pass
        except StopTest as stop:
            state.stop(stop.reason)
        finally:
            if self.started:
                self.finish()

    def start_pooled(self) -> None:
        """Open model: on_start when the pooled user is created, before its first arrival."""
        try:
            self._start()
        except StopUser:
            self.finish()
        except StopTest as stop:
            self.finish()
            self._state.stop(stop.reason)

    def run_arrival(self, due: float) -> None:
        """Open model: one iteration due at `due`; its lateness is its schedule lag."""
        try:
            if not self.started:
                self._start()
            lag = self._now() - due
            if lag < 0.0:
                lag = 0.0
            self.ctx.stats.schedule_lag(lag)
            self._lag = lag
            self.iterate(wait=False)
        except StopUser:
            self.finish()
        except StopTest as stop:
            self.finish()
            self._state.stop(stop.reason)

    def _start(self) -> None:
        self.started = True
        self.data.start_user()
        hooks = self.ctx.hooks
        if hooks.on_user_start:
            hooks.call_each(hooks.on_user_start, self)
        self._run_block(self.kind.on_start)

    def iterate(self, wait: bool = True) -> None:
        """One flow iteration: pick a flow by weight, run its steps, then (closed model) wait."""
        kind = self.kind
        now = self._now
        begin = now()
        self.iteration += 1
        self.vars["iteration"] = self.iteration
        if self.ctx.feeds:
            self.data.start_iteration()
        flow = kind.pick(self.rng)
        self.stop_on_failure = flow.stop_on_failure
        self._requested = False
        try:
            ok = _run_steps(flow.steps, self)
        except StopIterationSignal:
            ok = False
        except BaseException:
            # stopped inside the iteration (the run's stop, a kill at --stop-timeout): if one
            # of its requests was counted, the iteration is counted too
            self._lag = None
            if self._requested:
                flow.row.failure(now() - begin, INTERRUPTED)
                self.ctx.stats.iteration_done()
            raise
        self._lag = None
        took = now() - begin
        if ok:
            flow.row.success(took)
        else:
            flow.row.failure(took, "a step of the flow failed")
        self.ctx.stats.iteration_done()
        self._state.iteration_finished()
        if wait and kind.wait is not None and not self.stopping:
            self.sleep(kind.wait(self.rng, now() - begin))

    def _run_block(self, steps: tuple[Executor, ...]) -> None:
        if steps:
            self.stop_on_failure = False
            try:
                _run_steps(steps, self)
            except StopIterationSignal:
                pass

    def finish(self) -> None:
        """on_stop steps, the on_user_stop hooks, give back data rows, close connections."""
        hooks = self.ctx.hooks
        self.alive = False
        self.in_on_stop = True
        try:
            self._run_block(self.kind.on_stop)
        except (StopSignal, GreenletExit):
            pass
        finally:
            if hooks.on_user_stop:
                hooks.call_each(hooks.on_user_stop, self)
            self.data.stop()
            self.transport.close()
            for extra in self.extra_transports:
                extra.close()


def _run_steps(executors: tuple[Executor, ...], user: VirtualUser) -> bool:
    """`runtime.steps.run_steps` (this module cannot import it: steps' builders type against
    users): steps in order; in a `stop_on_failure` flow a failure ends the iteration."""
    ok = True
    for execute in executors:
        if not execute(user):
            ok = False
            if user.stop_on_failure:
                raise StopIterationSignal()
    return ok
