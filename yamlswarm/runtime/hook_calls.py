"""Calling hook functions at run time: lifecycle hooks, request rewriting, failures as data.

Hooks receive the virtual user as it is (any object: this module knows nothing of users).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yamlswarm.hookmodules import HookModules
    from yamlswarm.runtime.http.response import Response


class HookRequest:
    """The request a `before_request(request, user)` hook may change (`name`: its stats row)."""

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
        self.body = body
        self.name = url if name is None else name

    def header_items(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.headers.items()]


class HookRunner:
    """The loaded hook modules as the runtime calls them; an exception is recorded, never raised."""

    def __init__(self, modules: HookModules | None = None, err: Any = None) -> None:
        self.modules = modules
        self.err = err or sys.stderr
        self._reported: set[str] = set()
        get = (
            (lambda name: list(getattr(modules, name, []) or [])) if modules else (lambda name: [])
        )
        self.before_request: list[Callable] = get("before_request")
        self.after_response: list[Callable] = get("after_response")
        self.on_user_start: list[Callable] = get("on_user_start")
        self.on_user_stop: list[Callable] = get("on_user_stop")
        self.on_test_start: list[Callable] = get("on_test_start")
        self.on_test_stop: list[Callable] = get("on_test_stop")

    @property
    def template_functions(self) -> dict[str, Callable]:
        return dict(self.modules.template_functions) if self.modules else {}

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
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(f"hook {where} raised (shown once):\n{text}", file=self.err, flush=True)

    def run_before_request(
        self,
        user: object,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        name: str | None = None,
    ) -> HookRequest:
        request = HookRequest(method, url, headers, body, name)
        for hook in self.before_request:
            try:
                hook(request, user)
            except Exception as exc:
                self.report_exception(hook.__name__, exc)
                raise
        if isinstance(request.body, str):
            request.body = request.body.encode()
        return request

    def run_after_response(self, user: object, response: Response) -> str | None:
        for hook in self.after_response:
            try:
                hook(response, user)
            except Exception as exc:
                self.report_exception(hook.__name__, exc)
                return f"{hook.__name__} raised {type(exc).__name__}: {exc}"
        return response.failure

    def call_each(self, hooks: list[Callable], *args: Any) -> str | None:
        """Run lifecycle hooks; the first failure is returned as text (and its traceback printed once)."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception as exc:
                self.report_exception(hook.__name__, exc)
                return f"{hook.__name__} raised {type(exc).__name__}: {exc}"
        return None
