"""`user.request(...)` from hook code: the request step's path for a request written in Python.

A request made in code is built, sent and recorded as a YAML request step is: the user's
session headers (`session: {headers}`, `set_header`), `defaults` (headers, timeout,
follow_redirects and max_redirects through the session, TLS, the base URL for a relative
URL), `before_request` / `after_response` hooks, the failure rule of a step without
checks (status >= 400 fails), redirect counts, latency and `--trace` — through
`runtime.request.finisher`, the step's own. What is decided once (the checker, the
default headers' renderers) is decided when the first such request of a run is made.

Concurrent calls of one user (greenlets in a hook) each get a connection of their own
from the user's session, which pools connections per origin. A request the user's code
stops before sending (a `before_request` hook that raises, arguments of the wrong type)
is a recorded failure returned as a `Response` with `error` set; an exception from the
transport or the recording is a bug of yamlswarm and is raised as `InternalBug`, which a
hook's `except Exception` does not swallow.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from yamlswarm import plan as p
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.http.message import DEFAULT_BODY_LIMIT
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.transport import Request
from yamlswarm.runtime.request import checked, finisher, not_sent
from yamlswarm.runtime.session_headers import with_session
from yamlswarm.runtime.signals import InternalBug, StopSignal
from yamlswarm.runtime.stats import INTERRUPTED
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import renderer

if TYPE_CHECKING:
    from yamlswarm.runtime.context import BuildEnv

__all__ = ["CodeRequests"]

Headers = Mapping[str, Any] | list[tuple[str, Any]] | tuple[tuple[str, Any], ...] | None


class _Made:
    """The plan-like description of one request made in code (what `--trace` reads)."""

    __slots__ = ("extract", "method", "url")

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url
        self.extract = ()


class CodeRequests:
    """The requests a run's hooks make through `user.request` (one per run, see module doc)."""

    def __init__(self, env: BuildEnv, defaults: p.Defaults) -> None:
        self.env = env
        self.defaults = defaults
        self.default_headers = [(name, renderer(value)) for name, value in defaults.headers]
        self.finish = finisher(None, env, build_checker(p.Checks()), None)
        self.now = env.clock.now

    def __call__(
        self,
        user: Any,
        method: str,
        url: str,
        *,
        name: str | None = None,
        headers: Headers = None,
        params: Any = None,
        body: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Response:
        env, now = self.env, self.now
        sent = now()
        method = str(method).upper()
        row = env.stats.row(str(name if name is not None else url), method)
        try:
            request = self._build(user, method, url, row.name, headers, params, body, json, timeout)
        except StopSignal:
            raise
        except Exception as exc:  # the caller's arguments or a before_request hook: data
            not_sent(env, _Made(method, str(url)), user, row, sent, str(url), exc)
            response = Response(method, str(url), error=error_text(exc))
            response.name = row.name
            return response
        if request.name != row.name:  # a before_request hook renamed the row
            row = env.stats.row(request.name, method)
        intended = user.take_intended_start()  # open model: when the iteration was due
        sent = now()
        try:
            response = user.transport.send(request.request)
            self.finish(user, row, request.request, response, sent, intended)
        except StopSignal:
            raise
        except Exception as exc:  # the transport returns failures as data: a bug of ours
            raise InternalBug(exc) from exc
        except BaseException:  # killed at the stop with the request in flight: the server saw it
            row.failure(now() - sent, INTERRUPTED)
            raise
        return response

    def _build(
        self,
        user: Any,
        method: str,
        url: Any,
        name: str,
        headers: Headers,
        params: Any,
        body: bytes | str | None,
        json: Any,
        timeout: float | None,
    ) -> _Built:
        if not isinstance(url, str):
            raise TypeError(f"user.request: url must be a str, not {type(url).__name__}")
        ctx = user.vars
        items = _header_items(headers)
        content_type = None
        if json is not None:
            data = _json.dumps(json, separators=(",", ":")).encode()
            content_type = "application/json"
        elif body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            raise TypeError(f"user.request: body must be bytes or str, not {type(body).__name__}")
        if params:
            pairs = params.items() if isinstance(params, Mapping) else params
            url += ("&" if "?" in url else "?") + urlencode([(k, as_text(v)) for k, v in pairs])
        own = {key.lower() for key, _ in items}
        if content_type and "content-type" not in own:
            items.append(("Content-Type", content_type))
        for key, render in self.default_headers:  # defaults.headers: the call's own win
            if key.lower() not in own:
                items.append((key, as_text(render(ctx))))
        if user.session_headers:
            items = with_session(items, user.session_headers, ctx)
        hooks = self.env.hooks
        if hooks.before_request:
            hooked = checked(hooks.run_before_request(user, method, url, items, data, name))
            method, url, items, data = hooked.method, hooked.url, hooked.header_items(), hooked.body
            name = hooked.name
        defaults = self.defaults
        seconds = defaults.timeout if timeout is None else float(timeout)
        request = Request(
            method,
            url,
            items,
            data,
            seconds,
            defaults.follow_redirects,
            DEFAULT_BODY_LIMIT,
            defaults.verify_tls,
        )
        return _Built(request, name)


class _Built:
    """A request ready to send, and the row it is recorded on."""

    __slots__ = ("name", "request")

    def __init__(self, request: Request, name: str) -> None:
        self.request = request
        self.name = name


def _header_items(headers: Headers) -> list[tuple[str, str]]:
    if not headers:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    items = []
    for key, value in pairs:
        if not isinstance(key, str):
            raise TypeError(f"user.request: header name {key!r} is not a str")
        items.append((key, as_text(value)))
    return items
