"""A virtual user: its variables, cookies, connections and the loop over flow iterations."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

import gevent

from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.http.message import DEFAULT_BODY_LIMIT
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.session import Session
from yamlswarm.runtime.signals import StopIterationSignal, StopSignal, StopTest, StopUser
from yamlswarm.runtime.steps import run_steps

if TYPE_CHECKING:
    from yamlswarm.runtime.runner import CompiledUserType, Runner


class UserInfo:
    """`user` in templates: `user.id`, `user.name`."""

    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


class VirtualUser:
    """One simulated person. Hooks receive this object: `vars`, `id`, `name`, `request(...)`, `rng`."""

    def __init__(self, runner: Runner, kind: CompiledUserType, user_id: int, seed: int) -> None:
        self.runner = runner
        self.kind = kind
        self.id = user_id
        self.name = kind.name
        self.rng = random.Random(seed)
        self.session = Session(runner.base, verify_tls=runner.plan.defaults.verify_tls)
        self.data = runner.new_user_data()
        self.iteration = 0
        self.vars: dict[str, Any] = runner.new_context(self)
        self.stop_on_failure = False
        self.in_on_stop = False
        self.busy = False
        self.retired = False  # a stages run ramping down asked this user to stop
        self.alive = True  # False once the user stopped (on_stop ran)
        self.started = False
        self._intended: float | None = None
        self.greenlet: gevent.Greenlet | None = None

    # -- for hooks ------------------------------------------------------------

    @property
    def api(self) -> VirtualUser:
        return self

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
        import json as _json

        header_items = list((headers or {}).items())
        if json is not None:
            body = _json.dumps(json).encode()
            header_items.append(("Content-Type", "application/json"))
        elif isinstance(body, str):
            body = body.encode()
        row = self.runner.stats.row(name or url, method.upper())
        start = time.perf_counter()
        response = self.session.request(
            method, url, headers=header_items, body=body, timeout=timeout, keep=DEFAULT_BODY_LIMIT
        )
        response.elapsed = time.perf_counter() - start
        error = response.error or (f"HTTP {response.status}" if response.status >= 400 else None)
        if error:
            row.failure(response.elapsed, error)
        else:
            row.success(response.elapsed)
        return response

    # -- used by steps -------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.retired or self.runner.stopping

    def take_intended_start(self) -> float | None:
        intended, self._intended = self._intended, None
        return intended

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            gevent.sleep(seconds)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        """Greenlet body of a closed-model user: on_start, iterations until stopped, on_stop."""
        runner = self.runner
        try:
            self._start()
            while not self.stopping:
                if not runner.take_iteration():
                    break
                self.iterate()
        except StopUser:
            pass
        except StopTest as stop:
            runner.stop(stop.reason)
        finally:
            if self.started:
                self.finish()

    def run_arrival(self, due: float) -> None:
        """Open model: one iteration due at `due`; latency of its first request counts from then."""
        try:
            if not self.started:
                self._start()
            self._intended = due
            self.iterate(wait=False)
        except StopUser:
            self.finish()
        except StopTest as stop:
            self.finish()
            self.runner.stop(stop.reason)

    def _start(self) -> None:
        self.started = True
        self.data.start_user()
        hooks = self.runner.hooks
        if hooks.on_user_start:
            hooks.call_each(hooks.on_user_start, self)
        self._run_block(self.kind.on_start)

    def iterate(self, wait: bool = True) -> None:
        """One flow iteration: pick a flow by weight, run its steps, then (closed model) wait."""
        kind = self.kind
        begin = time.perf_counter()
        self.iteration += 1
        self.vars["iteration"] = self.iteration
        if self.runner.feeds:
            self.data.start_iteration()
        flow = kind.pick(self.rng)
        self.stop_on_failure = flow.stop_on_failure
        try:
            ok = run_steps(flow.steps, self)
        except StopIterationSignal:
            ok = False
        took = time.perf_counter() - begin
        if ok:
            flow.row.success(took)
        else:
            flow.row.failure(took, "a step of the flow failed")
        self.runner.stats.iteration_done()
        self.runner.iteration_finished()
        if wait and kind.wait is not None and not self.stopping:
            self.sleep(kind.wait(self.rng, time.perf_counter() - begin))

    def _run_block(self, steps: tuple[Executor, ...]) -> None:
        if steps:
            self.stop_on_failure = False
            try:
                run_steps(steps, self)
            except StopIterationSignal:
                pass

    def finish(self) -> None:
        runner = self.runner
        self.alive = False
        self.in_on_stop = True
        try:
            self._run_block(self.kind.on_stop)
        except (StopSignal, gevent.GreenletExit):
            pass
        finally:
            if runner.hooks.on_user_stop:
                runner.hooks.call_each(runner.hooks.on_user_stop, self)
            self.data.stop()
            self.session.close()
