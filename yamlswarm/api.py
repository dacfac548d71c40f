"""The public hook API: what hook functions receive, typed, and the signals they may raise.

Hook authors import this module and nothing else of yamlswarm::

    from yamlswarm.api import Request, Response, StopTest, StopUser, TestContext, User

    def after_response(response: Response, user: User) -> None:
        if response.status == 200 and "error" in response.text:
            response.fail("an error page with status 200")

`User`, `Request`, `Response`, `Headers` and `Metric` are `typing.Protocol`s: they
say what a hook may use, and mypy holds a hook module to it. The objects hooks are
handed at run time are the runtime's own (so a hook costs no extra object per
request); anything they have beyond these protocols is private and may change in any
release. `TestContext` is a plain class, the same locally, with `--processes N`, on
a master and on its workers. `StopUser` and `StopTest` are the runtime's own stop
signals. `docs/hooks.md` describes every hook and every attribute, with examples.

This module imports nothing but the standard library and the stop signals, so a
hook module that imports it loads as fast under `yamlswarm validate` as without.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol, overload

from yamlswarm.runtime.signals import StopTest, StopUser

__all__ = [
    "Headers",
    "Measurement",
    "Metric",
    "Request",
    "Response",
    "Role",
    "StopTest",
    "StopUser",
    "TestContext",
    "User",
]

Role = Literal["local", "master", "worker"]


class Headers(Protocol):
    """A response's headers: case-insensitive names, possibly several values per name."""

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of header `name` (several values joined with ", "), else `default`."""
        ...

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name`, in the order received."""
        ...

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, in the order received."""
        ...

    def __contains__(self, name: object) -> bool: ...

    def __getitem__(self, name: str) -> str:
        """The value of header `name`; KeyError when absent."""
        ...


class Response(Protocol):
    """One HTTP exchange, already read: what `after_response` and `user.request` give."""

    @property
    def name(self) -> str:
        """The stats row the request is counted in (the step's `name:`, else its URL)."""
        ...

    @property
    def method(self) -> str:
        """The request method, upper case."""
        ...

    @property
    def url(self) -> str:
        """The absolute URL requested (after the `host` was joined to a relative one)."""
        ...

    @property
    def status(self) -> int:
        """The HTTP status; 0 when no response arrived (then `error` names why)."""
        ...

    @property
    def headers(self) -> Headers:
        """The response headers."""
        ...

    @property
    def body(self) -> bytes:
        """The body bytes kept (a huge body may be kept only in part)."""
        ...

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        ...

    def json(self) -> Any:
        """The body parsed as JSON (parsed once, then cached); ValueError when it is not JSON."""
        ...

    @property
    def elapsed(self) -> float:
        """The latency in seconds, as reported (open model: from when the iteration was due)."""
        ...

    @property
    def history(self) -> Sequence[Response]:
        """The redirect responses followed before this one, oldest first (empty: none)."""
        ...

    @property
    def error(self) -> str | None:
        """Why no usable response arrived ("ConnectionRefused", "Timeout", ...), else None."""
        ...

    def fail(self, reason: str) -> None:
        """Count this request as failed with `reason` (in `after_response`)."""
        ...


class Request(Protocol):
    """The request a `before_request(request, user)` hook may change before it is sent."""

    method: str
    """The method, upper case; may be changed."""
    url: str
    """A path relative to `host`, or an absolute URL; may be changed."""
    headers: dict[str, str]
    """The request headers; add, change or delete entries (e.g. a signature)."""
    body: bytes | str
    """The body; a `str` set here is sent UTF-8 encoded."""

    name: str
    """The stats row the request will be counted in (the step's `name:`, else its URL); a
    hook may change it, and the request is counted in that row."""


class Metric(Protocol):
    """A custom metric declared in the scenario's `metrics:`; updated from hooks."""

    def add(self, value: Any = 1, /) -> None:
        """Counter: add `value` (default 1); trend: record a sample; gauge: set the current
        value (trends and gauges need one); rate: count a pass (truthy, the default) or a
        fail (falsy)."""
        ...


class Measurement(Protocol):
    """What ``with user.measure(name, kind) as m:`` gives the block."""

    size: int | None
    """Bytes received, if the block sets it: counted in the row's content size."""
    error: str | None
    """The failure reason set by `fail`, or None."""

    def fail(self, reason: str) -> None:
        """Mark the measured operation failed without raising (e.g. a wrong answer)."""
        ...


class User(Protocol):
    """One virtual user, as hooks see it (`on_user_start`, `call:` functions, ...)."""

    @property
    def id(self) -> int:
        """The user's number in this process, from 1."""
        ...

    @property
    def name(self) -> str:
        """The name of the user type it runs."""
        ...

    @property
    def vars(self) -> dict[str, Any]:
        """The user's variables, as templates see them: read and set entries freely."""
        ...

    @property
    def rng(self) -> random.Random:
        """The user's own random source (seeded from `--seed`: reproducible choices)."""
        ...

    @property
    def metrics(self) -> Mapping[str, Metric]:
        """The scenario's custom metrics by name: `user.metrics["orders"].add(1)`."""
        ...

    def request(
        self,
        method: str,
        url: str,
        *,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Response:
        """Send a request, counted in the stats under `name` (default: the URL).

        `url` is relative to `host` or absolute; `params` are added to its query;
        `json` is sent as a JSON body; `timeout` None means the scenario's
        `defaults.timeout`. A failure is in the response (`status`, `error`), never raised.
        """
        ...

    def measure(self, name: str, kind: str = "CUSTOM") -> AbstractContextManager[Measurement]:
        """Time the block as a stats row (`kind`, `name`): ``with user.measure("publish",
        kind="MQTT"):``. An exception in the block counts a failure with its message and
        propagates."""
        ...

    def record(
        self,
        kind: str,
        name: str,
        elapsed_s: float,
        error: str | BaseException | None = None,
        size: int | None = None,
    ) -> None:
        """Count one operation timed elsewhere: a success, or a failure when `error` is given."""
        ...


class TestContext:
    """The run, as `on_test_start(ctx)` and `on_test_stop(ctx, result)` see it.

    The same object in every kind of run:

    - `scenario`: the scenario's `name`;
    - `host`: the base URL requests go to (after `--host`);
    - `settings`: the run settings (`users`, `spawn_rate`, `duration`, `iterations`,
      `seed`, ...), a read-only mapping; on a worker, that worker's share;
    - `role`: which process this is: "local" (a plain `run`), "master" (the master of a
      distributed run, also the in-process master of `--processes N`) or "worker";
    - `workers`: 0 in a local run, the number of workers in a distributed one (on the
      master and on each worker);
    - `result`: in `on_test_stop`, the run's result shaped as the `--json` output (on a
      master, merged across the workers); None before, and on workers;
    - `exit_code`: in `on_test_stop`, the exit code the process will end with; set it
      (an integer from 0 to 255) to change it.
    """

    __test__ = False  # not a pytest test class, whatever its name
    __slots__ = ("_exit_code", "host", "result", "role", "scenario", "settings", "workers")

    def __init__(
        self,
        scenario: str,
        host: str | None,
        settings: Mapping[str, Any],
        *,
        role: Role = "local",
        workers: int = 0,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.settings = settings
        self.role: Role = role
        self.workers = workers
        self.result: Mapping[str, Any] | None = None
        self._exit_code: int | None = None

    @property
    def exit_code(self) -> int | None:
        """In `on_test_stop`: the exit code the run will end with; set it (0-255) to change it."""
        return self._exit_code

    @exit_code.setter
    def exit_code(self, code: int) -> None:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
            raise ValueError(f"exit_code must be an integer from 0 to 255, not {code!r}")
        self._exit_code = code

    def __repr__(self) -> str:
        return f"<TestContext {self.scenario!r} role={self.role} host={self.host!r}>"
