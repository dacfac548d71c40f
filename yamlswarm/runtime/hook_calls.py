"""Calling hook functions at run time: lifecycle hooks, request rewriting, failures as data.

Hooks receive the runtime's own objects (the virtual user, the response): they satisfy
the protocols of `yamlswarm.api`, and this module knows nothing else of them.

What a hook raises is contained here:

- an `Exception` is the hook's failure: recorded, its traceback printed once;
- `SystemExit` and `KeyboardInterrupt` are failures too (`HookExit`): a hook never ends
  the process, which would lose the results (a real Ctrl-C never reaches a hook as
  `KeyboardInterrupt`: the run's signal handlers take it);
- `StopUser` stops that user, `StopTest` the whole run, gracefully (`stopped`): both
  are counted in the results with their reason.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from yamlswarm.api import Role, TestContext
from yamlswarm.runtime.signals import StopTest, StopUser

if TYPE_CHECKING:
    from yamlswarm.hookmodules import HookModules
    from yamlswarm.runtime.http.response import Response
    from yamlswarm.settings import RunSettings

ESCAPES = (SystemExit, KeyboardInterrupt)
_HOOK_SIGNALS = (StopUser, StopTest)
# the settings a hook sees in `ctx.settings` (the others are the CLI's business or secret)
_SETTINGS = (
    "host",
    "users",
    "spawn_rate",
    "duration",
    "iterations",
    "seed",
    "stop_timeout",
    "tags",
    "exclude_tags",
    "user_types",
    "exit_code_on_error",
    "env",
    "outputs",
)


class HookExit(Exception):
    """A hook raised SystemExit or KeyboardInterrupt: recorded as that hook's failure."""

    def __init__(self, where: str, exc: BaseException) -> None:
        shown = f"{type(exc).__name__}({', '.join(repr(a) for a in exc.args)})"
        super().__init__(f"{shown} in {where}: a hook cannot end the process")


class HookRequest:
    """The request a `before_request(request, user)` hook may change (`api.Request`;
    `name`: its stats row)."""

    __slots__ = ("body", "headers", "method", "name", "url")

    def __init__(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        name: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers)
        self.body: Any = body  # bytes, or a str a hook set (encoded after the hooks)
        self.name = url if name is None else name

    def header_items(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.headers.items()]


class HookRunner:
    """The loaded hook modules as the runtime calls them; an exception is recorded, never raised."""

    def __init__(self, modules: HookModules | None = None, err: Any = None) -> None:
        self.modules = modules
        self.err = err or sys.stderr
        self._reported: set[str] = set()
        self.stats: Any = None  # set by `bind`: where stops are counted
        self._stop_run: Callable[[str], None] | None = None
        get = (
            (lambda name: list(getattr(modules, name, []) or [])) if modules else (lambda name: [])
        )
        self.before_request: list[Callable] = get("before_request")
        self.after_response: list[Callable] = get("after_response")
        self.on_user_start: list[Callable] = get("on_user_start")
        self.on_user_stop: list[Callable] = get("on_user_stop")
        self.on_test_start: list[Callable] = get("on_test_start")
        self.on_test_stop: list[Callable] = get("on_test_stop")

    def bind(self, stats: Any, stop_run: Callable[[str], None]) -> None:
        """The run these hooks serve: its stats (stops are counted there) and how to stop it."""
        self.stats = stats
        self._stop_run = stop_run

    @property
    def template_functions(self) -> dict[str, Callable]:
        if not self.modules:
            return {}
        return {name: _contained(name, fn) for name, fn in self.modules.template_functions.items()}

    def function(self, name: str) -> Callable:
        fn = self.modules.function(name) if self.modules else None
        if fn is None:  # validation reports this before a run; keep the failure as data anyway

            def missing(user: Any) -> None:
                raise LookupError(f"hook function {name!r} not found")

            return missing
        return fn

    def report_exception(self, where: str, exc: BaseException) -> None:
        """Print a hook's traceback once per distinct error (it is the user's own code)."""
        key = f"{where}:{type(exc).__name__}:{exc}"
        if key in self._reported:
            return
        self._reported.add(key)
        if isinstance(exc, HookExit) and exc.__cause__ is not None:
            note = f"{exc}; recorded as its failure"
            exc = exc.__cause__  # the hook's own SystemExit, where it was raised
        else:
            note = "shown once"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(f"hook {where} raised ({note}):\n{text}", file=self.err, flush=True)

    def stopped(self, where: str, stop: StopUser | StopTest, user: Any = None) -> StopUser:
        """A hook raised StopUser or StopTest: count it (a StopTest stops the run, now);
        returns the StopUser that ends the hook's user (the caller raises it).

        A StopUser that is the run stopping its users (thrown into a hook that was
        waiting when the run or a ramp-down stopped the user) is not counted."""
        if isinstance(stop, StopTest):
            reason = stop.reason or f"{where} raised StopTest"
            if self.stats is not None:
                self.stats.stopped_test(reason)
            if self._stop_run is not None:
                self._stop_run(reason)
            return StopUser(reason)
        if getattr(user, "stopping", False):
            return stop
        reason = stop.reason or f"{where} raised StopUser"
        if self.stats is not None:
            self.stats.user_stopped(reason)
        return StopUser(reason)

    def run_before_request(
        self,
        user: object,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        name: str | None = None,
    ) -> HookRequest:
        """Run the `before_request` hooks; a failure is raised (the request fails, unsent),
        a stop signal raised as the StopUser that ends this user."""
        request = HookRequest(method, url, headers, body, name)
        for hook in self.before_request:
            try:
                hook(request, user)
            except _HOOK_SIGNALS as stop:
                raise self.stopped(hook.__name__, stop, user) from None
            except Exception as exc:
                self.report_exception(hook.__name__, exc)
                raise
            except ESCAPES as exc:
                contained = HookExit(hook.__name__, exc)
                contained.__cause__ = exc
                self.report_exception(hook.__name__, contained)
                raise contained from exc
        if isinstance(request.body, str):
            request.body = request.body.encode()
        return request

    def run_after_response(self, user: Any, response: Response, name: str = "") -> str | None:
        """Run the `after_response` hooks on the response of row `name`; the request's failure
        text, or None.

        The request is counted before its user stops: a StopUser from a hook makes the
        user stop after this request (as a ramp-down does), a StopTest stops the run."""
        response.name = name
        for hook in self.after_response:
            try:
                hook(response, user)
            except _HOOK_SIGNALS as stop:
                if not getattr(user, "stopping", False):
                    self.stopped(hook.__name__, stop, user)
                    user.retired = True  # ends the user after this request, like a ramp-down
                break
            except BaseException as exc:
                failure = self._failure(hook.__name__, exc)
                if failure is None:
                    raise
                return failure
        return response.failure

    def call_each(self, hooks: list[Callable], *args: Any) -> str | None:
        """Run lifecycle hooks; the first failure is returned as text (and its traceback
        printed once). A stop signal raised by one is raised as the StopUser that ends the
        user (`on_user_start`); where there is no user to stop, see `call_quietly`."""
        for hook in hooks:
            try:
                hook(*args)
            except _HOOK_SIGNALS as stop:
                raise self.stopped(hook.__name__, stop, args[0] if args else None) from None
            except BaseException as exc:
                failure = self._failure(hook.__name__, exc)
                if failure is None:
                    raise
                return failure
        return None

    def call_quietly(self, hooks: list[Callable], *args: Any) -> str | None:
        """Run hooks that have no user to stop (`on_user_stop`, the test hooks): a StopTest
        still stops the run (and is counted), a StopUser is ignored; every hook runs, the
        first failure is returned as text."""
        first: str | None = None
        for hook in hooks:
            try:
                hook(*args)
            except StopTest as stop:
                self.stopped(hook.__name__, stop)
            except StopUser:
                pass
            except BaseException as exc:
                failure = self._failure(hook.__name__, exc)
                if failure is None:
                    raise
                first = first or failure
        return first

    def _failure(self, where: str, exc: BaseException) -> str | None:
        """A hook's exception as recorded failure text; None for what must propagate (the
        greenlet being killed, a gevent timeout)."""
        if isinstance(exc, ESCAPES):
            contained = HookExit(where, exc)
            contained.__cause__ = exc
            self.report_exception(where, contained)
            return str(contained)
        if not isinstance(exc, Exception):
            return None
        self.report_exception(where, exc)
        return f"{where} raised {type(exc).__name__}: {exc}"

    # -- the test hooks ---------------------------------------------------------------

    def test_start(self, ctx: TestContext) -> None:
        """`on_test_start(ctx)` of every module; a failure is printed, the run goes on."""
        if self.on_test_start:
            failure = self.call_quietly(self.on_test_start, ctx)
            if failure:
                print(f"on_test_start failed: {failure}", file=self.err, flush=True)

    def test_stop(self, ctx: TestContext, result: Mapping[str, Any] | None, code: int) -> int:
        """`on_test_stop(ctx, result)` of every module; returns the exit code, as the hooks
        may have set `ctx.exit_code`."""
        ctx.result = result
        ctx._exit_code = code  # as computed (the setter checks only what hooks set)
        if self.on_test_stop:
            failure = self.call_quietly(self.on_test_stop, ctx, result)
            if failure:
                print(f"on_test_stop failed: {failure}", file=self.err, flush=True)
        return code if ctx.exit_code is None else ctx.exit_code


def test_context(
    plan: Any, settings: RunSettings, *, role: Role = "local", workers: int = 0
) -> TestContext:
    """The `ctx` of the test hooks for `plan` run with `settings` in this process."""
    view = {name: _frozen(getattr(settings, name)) for name in _SETTINGS}
    return TestContext(plan.name, plan.host, MappingProxyType(view), role=role, workers=workers)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def _contained(name: str, fn: Callable) -> Callable:
    """A template function whose SystemExit / KeyboardInterrupt is an ordinary failure."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ESCAPES as exc:
            raise HookExit(name, exc) from exc

    call.__name__ = getattr(fn, "__name__", name)
    call.__doc__ = getattr(fn, "__doc__", None)
    return call
