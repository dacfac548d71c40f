"""A virtual user: its variables, data rows, transport and the loop over flow iterations.

A user knows the run only through its `RunContext` (stats, hooks, feeds,
clock, the shared `RunState`), never the runner: the same loop runs under the
real runner and in unit tests on a fake clock and a fake transport.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from gevent import Greenlet, GreenletExit

from yamlswarm.runtime.code_request import CodeRequests
from yamlswarm.runtime.context import Executor, RunContext
from yamlswarm.runtime.data import UserData
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.transport import Transport
from yamlswarm.runtime.metrics import Metric
from yamlswarm.runtime.signals import StopIterationSignal, StopSignal, StopTest, StopUser
from yamlswarm.runtime.stats import INTERRUPTED, STEP_METHODS, RowStats
from yamlswarm.runtime.usertypes import CompiledUserType
from yamlswarm.runtime.values import error_text

_INF = float("inf")


class UserInfo:
    """`user` in templates: `user.id`, `user.name`."""

    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


class VirtualUser:
    """One simulated person. Hooks receive this object: `vars`, `id`, `name`, `request(...)`,
    `measure(...)`, `record(...)`, `rng`, `metrics` (the declared custom metrics by name,
    read-only: `runtime.metrics`)."""

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
        self._in_flight = 0  # requests of hook code in flight (they may run concurrently)
        self.retired = False  # a stages run ramping down asked this user to stop
        self.alive = True  # False once the user stopped (on_stop ran)
        self.started = False
        self.greenlet: Greenlet | None = None
        self._lag: float | None = None  # open model: this iteration's schedule lag (s)
        self._requested = False  # a request of this iteration was sent (so it counts)
        self._state = ctx.state
        self._now = ctx.clock.now  # bound once: as cheap as calling perf_counter
        self._rows: dict[tuple[str, str], RowStats] = {}  # (name, kind) -> row of measure/record

    # -- for hooks ------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        name: str | None = None,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        params: Any = None,
        body: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Response:
        """Make a request as a YAML request step does (`runtime.code_request`): recorded on
        row `name` (default the URL); `timeout` None means `defaults.timeout`."""
        requests = self.ctx.code_requests
        if requests is None:
            requests = self.ctx.code_requests = CodeRequests(
                self.ctx.build_env(), self.ctx.defaults
            )
        self._in_flight += 1
        self.busy = True  # a graceful stop lets the request finish
        try:
            return requests(
                self,
                method,
                url,
                name=name,
                headers=headers,
                params=params,
                body=body,
                json=json,
                timeout=timeout,
            )
        finally:
            self._in_flight -= 1
            self.busy = self._in_flight > 0

    def measure(self, name: str, kind: str = "CUSTOM") -> Measurement:
        """`with user.measure("publish", kind="MQTT"):` times the block into the row (name, kind).

        An exception inside records a failure (`TypeName: message`) and is re-raised;
        stop signals (`StopUser`, `StopTest`) pass through unrecorded. See `Measurement`.
        """
        row = self._rows.get((name, kind)) or self._custom_row(name, kind)
        return Measurement(self, row)

    def record(
        self,
        kind: str,
        name: str,
        elapsed_s: float,
        error: str | BaseException | None = None,
        size: int | None = None,
    ) -> None:
        """Record one exchange the caller timed: `elapsed_s` seconds, failed when `error` is
        given (a short text, or the exception: `TypeName: message`), `size` bytes received."""
        try:
            valid = 0.0 <= elapsed_s < _INF  # False for NaN
        except TypeError:
            valid = False
        if not valid or elapsed_s is True:
            raise ValueError(
                f"elapsed_s must be a finite number of seconds >= 0, not {elapsed_s!r}"
            )
        row = self._rows.get((name, kind)) or self._custom_row(name, kind)
        lag = self._lag  # open model: the first timed thing of an iteration carries its lag
        self._requested = True
        service = None
        if lag is not None:
            self._lag = None
            service = elapsed_s
            elapsed_s += lag
        if size is not None:
            row.size_bytes += _checked_size(size)
        if error is None:
            row.success(elapsed_s, service)
        else:
            row.failure(
                elapsed_s, error if type(error) is str and error else _error_name(error), service
            )

    def _custom_row(self, name: str, kind: str) -> RowStats:
        """The row of a first `measure`/`record` of (name, kind), its arguments checked once."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"the row name must be a non-empty string, not {name!r}")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind must be a non-empty string such as 'MQTT', not {kind!r}")
        if kind in STEP_METHODS:
            raise ValueError(f"kind {kind!r} is reserved for yamlswarm's step rows")
        row = self._rows[(name, kind)] = self.ctx.stats.row(name, kind)
        return row

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
            # of its requests was counted, the iteration is counted as interrupted, apart
            self._lag = None
            if self._requested:
                self.ctx.stats.iteration_interrupted()
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
                hooks.call_quietly(hooks.on_user_stop, self)
            self.data.stop()
            self.transport.close()
            for extra in self.extra_transports:
                extra.close()


class Measurement:
    """The context manager of `user.measure(name, kind)`: times its block on the run's clock.

    On a normal exit the block is a success (or a failure if `fail(reason)` was called);
    an exception inside is a failure named `TypeName: message` and is re-raised, so the
    hook's step then fails as any hook exception does. `StopUser` / `StopTest` (and the
    other stop signals) pass through unrecorded; a user killed inside the block (the run's
    hard stop) records it as `interrupted`, as a request in flight is. Set `size` (bytes
    received) inside the block to count it in the row's content size. In the open model
    a measurement that is the first timed thing of an iteration is charged the schedule lag.
    """

    __slots__ = ("_intended", "_now", "_row", "_start", "_user", "error", "size")

    def __init__(self, user: VirtualUser, row: RowStats) -> None:
        self._user = user
        self._row = row
        self._now = user._now
        self.size: int | None = None
        self.error: str | None = None

    def fail(self, reason: str) -> None:
        """Mark the measured exchange failed without raising (e.g. an answer that is wrong)."""
        self.error = str(reason) or "failed"

    def __enter__(self) -> Measurement:
        user = self._user
        user._requested = True
        start = self._start = self._now()
        lag = user._lag
        if lag is None:
            self._intended = None
        else:
            user._lag = None
            self._intended = start - lag
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        end = self._now()
        if exc is None and self.error is None and self.size is None and self._intended is None:
            self._row.success(end - self._start)  # the usual case, kept short
        else:
            self._finish(end, exc)

    def _finish(self, end: float, exc: BaseException | None) -> None:
        if exc is not None and isinstance(exc, StopSignal):
            return  # control flow, not an outcome of the exchange: not recorded
        start, intended, row = self._start, self._intended, self._row
        if intended is None:
            latency, service = end - start, None
        else:
            latency, service = end - intended, end - start
        if self.size is not None:
            row.size_bytes += _checked_size(self.size)
        if exc is None:
            if self.error is None:
                row.success(latency, service)
            else:
                row.failure(latency, self.error, service)
        elif isinstance(exc, Exception):
            row.failure(latency, error_text(exc), service)
        else:  # killed in the block (GreenletExit at the hard stop): in flight, as requests are
            row.failure(latency, INTERRUPTED, service)


def _checked_size(size: Any) -> int:
    if type(size) is not int or size < 0:
        raise ValueError(f"size must be a whole number of bytes >= 0, not {size!r}")
    return size


def _error_name(error: Any) -> str:
    if isinstance(error, str) and error:
        return error
    if isinstance(error, BaseException):
        return error_text(error)
    raise ValueError(f"error must be a non-empty string or an exception, not {error!r}")


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
