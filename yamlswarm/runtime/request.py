"""The request step's executor: a `RequestStep` becomes `run(user) -> bool`, built once per process.

Everything that can be decided before the run — constant URLs, request heads,
JSON bodies, stats rows, checkers — is decided in `build_request`, so one
request of one user does only what its templates require. A constant step
(no template, no `before_request` hook) sends one `Request` prepared at build
time; any other step renders a new `Request` each time. Both go through the
user's `Transport` (which follows redirects, `runtime.http.redirects`) and
end in the same `finish`: latency, redirect counts, hooks, checks,
extraction, stats and tracing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from yamlswarm import plan as p
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.message import DEFAULT_BODY_LIMIT
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.transport import Request
from yamlswarm.runtime.session_headers import with_session
from yamlswarm.runtime.signals import StopUser
from yamlswarm.runtime.stats import INTERRUPTED
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import Template, renderer

if TYPE_CHECKING:
    from yamlswarm.runtime.checks import Checker
    from yamlswarm.runtime.context import BuildEnv, Executor, StepUser
    from yamlswarm.runtime.extract import Extractor
    from yamlswarm.runtime.hook_calls import HookRequest, HookRunner
    from yamlswarm.runtime.stats import RowStats, Stats


def _encode_body(body: p.Body | None, ctx: dict | None) -> tuple[bytes, str | None]:
    """Body bytes and the Content-Type it implies, rendered with `ctx` (None: constant)."""
    if body is None:
        return b"", None
    value = body.value.render(ctx or {}) if isinstance(body.value, Template) else body.value
    if body.kind == "json":
        return json.dumps(value, separators=(",", ":")).encode(), "application/json"
    if body.kind == "form":
        pairs = value.items() if isinstance(value, dict) else value
        return urlencode(
            [(k, as_text(v)) for k, v in pairs]
        ).encode(), "application/x-www-form-urlencoded"
    if body.kind == "files":
        return _multipart(value)
    data = value if isinstance(value, bytes) else as_text(value).encode()
    return data, None


def _multipart(files: dict) -> tuple[bytes, str]:
    boundary = "yamlswarm-boundary-7d3f1c"
    parts: list[bytes] = []
    for field_name, spec in files.items():
        if isinstance(spec, dict):
            path, filename = spec["path"], spec.get("filename")
            ctype = spec.get("content_type", "application/octet-stream")
        else:
            path, filename, ctype = spec, None, "application/octet-stream"
        with open(path, "rb") as handle:
            content = handle.read()
        name = filename or str(path).rsplit("/", 1)[-1]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="{name}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _basic_auth(user: Any, password: Any) -> str:
    import base64

    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


class _RequestParts:
    """Renders the variable parts of a request for one user: URL, headers, body."""

    def __init__(self, step: p.RequestStep) -> None:
        self.step = step
        self.method = step.method
        self.url = renderer(step.url)
        self.headers = [(name, renderer(v)) for name, v in step.headers]
        self.query = [(name, renderer(v)) for name, v in step.query]
        self.auth = (renderer(step.auth[0]), renderer(step.auth[1])) if step.auth else None
        self.constant_body = not (step.body and isinstance(step.body.value, Template))
        self.body_const = (
            _encode_body(step.body, None)
            if self.constant_body and step.body and step.body.kind != "files"
            else None
        )

    def url_text(self, ctx: dict) -> str:
        url = self.url(ctx)
        if type(url) is not str:  # as_text, its call saved for the usual string
            url = as_text(url)
        if self.query:
            query: list[tuple[str, str]] = []
            for name, render in self.query:
                value = render(ctx)
                values = value if isinstance(value, list) else [value]
                query.extend((name, as_text(v)) for v in values)
            url += ("&" if "?" in url else "?") + urlencode(query)
        return url

    def header_list(self, ctx: dict, content_type: str | None) -> list[tuple[str, str]]:
        headers = [(name, as_text(render(ctx))) for name, render in self.headers]
        if not (content_type or self.auth):
            return headers
        names = {name.lower() for name, _ in headers}
        if content_type and "content-type" not in names:
            headers.append(("Content-Type", content_type))
        if self.auth and "authorization" not in names:
            headers.append(("Authorization", _basic_auth(self.auth[0](ctx), self.auth[1](ctx))))
        return headers

    def body(self, ctx: dict) -> tuple[bytes, str | None]:
        if self.body_const is not None:
            return self.body_const
        return _encode_body(self.step.body, ctx)


def _row_name(step: p.RequestStep) -> Any:
    if step.name is not None:
        return step.name
    return step.url.source if isinstance(step.url, Template) else step.url


class _Spec:
    """What `build_request` decides once: the parts, the stats row, checks, extraction, options."""

    def __init__(self, step: p.RequestStep, env: BuildEnv) -> None:
        self.step = step
        self.env = env
        self.parts = _RequestParts(step)
        self.method = step.method
        self.stats = env.stats
        name = _row_name(step)
        self.fixed_row = (
            self.stats.row(name, step.method) if not isinstance(name, Template) else None
        )
        self.name_render = name.render if isinstance(name, Template) else None
        self.step_name = name.source if isinstance(name, Template) else name  # overflow row
        self.checker = build_checker(step.checks)
        self.extractor = build_extractor(step.extract)
        if self.fixed_row is not None:
            for description in self.checker.descriptions:
                self.stats.register_check(name, step.method, description)
        hooks = env.hooks
        needs_body = step.checks.needs_body or step.extract or hooks.after_response or env.trace
        self.keep = DEFAULT_BODY_LIMIT if needs_body else 0
        self.now = env.clock.now  # bound once: as cheap as perf_counter

    def row_for(self, ctx: dict) -> RowStats:
        name = as_text(self.name_render(ctx))  # type: ignore[misc]
        return self.stats.row(name, self.method, self.step_name)

    def prepared(self) -> Request | None:
        """The fast path: URL, query, headers, auth and body are constant and no hook rewrites
        them, so the whole request head is built once, here (None: render per request)."""
        step, parts = self.step, self.parts
        if not _is_constant(step, parts, self.env.hooks):
            return None
        body, ctype = parts.body_const or (b"", None)
        try:
            return Request.prepared(
                step.method,
                parts.url_text({}),
                parts.header_list({}, ctype),
                body,
                self.env.base,
                timeout=step.timeout,
                keep=self.keep,
                verify_tls=step.verify_tls,
                follow_redirects=step.follow_redirects,
            )
        except ValueError:
            return None  # reported per request, by the general path

    def failed(self, user: StepUser, row: RowStats, start: float, url: str, exc: Exception) -> bool:
        """A template or hook raised before anything was sent: a failed request, as data."""
        return _after(user, not_sent(self.env, self.step, user, row, start, url, exc))


def not_sent(
    env: BuildEnv, step: Any, user: Any, row: RowStats, start: float, url: str, exc: Exception
) -> bool:
    """Record a request that user code (a template, a hook) stopped before it was sent."""
    text = error_text(exc)
    row.failure(env.clock.now() - start, text)
    if env.trace is not None:
        response = Response(step.method, url or as_text(step.url), error=text)
        response.name = row.name
        env.trace(user, step, response, text)
    return False


def build_request(step: p.RequestStep, env: BuildEnv) -> Executor:
    spec = _Spec(step, env)
    request = spec.prepared()
    rendered = _rendered_executor(spec)
    if request is not None:
        return _prepared_executor(spec, request, rendered)
    return rendered


def _prepared_executor(spec: _Spec, request: Request, rendered: Executor) -> Executor:
    """The hot path: the same prepared `Request` every time (a user with session headers
    takes the general path, where they are rendered)."""
    fixed_row, row_for, now = spec.fixed_row, spec.row_for, spec.now
    finish = _finisher(spec)

    def run(user: StepUser) -> bool:
        if user.session_headers:
            return rendered(user)
        row = fixed_row or row_for(user.vars)
        intended = user.take_intended_start()  # open model: when the iteration was due
        sent = now()
        user.busy = True  # a graceful stop lets this request finish
        try:
            response = user.transport.send(request)
        except Exception:  # a transport returns failures as data: this is a bug of ours
            raise
        except BaseException:  # killed at the stop with the request in flight: the server saw it
            row.failure(now() - sent, INTERRUPTED)
            raise
        finally:
            user.busy = False
        return _after(user, finish(user, row, request, response, sent, intended))

    return run


def _rendered_executor(spec: _Spec) -> Executor:
    """The general path: templates rendered and `before_request` hooks run for each request."""
    fixed_row, row_for, now, failed = spec.fixed_row, spec.row_for, spec.now, spec.failed
    parts, hooks, step, keep = spec.parts, spec.env.hooks, spec.step, spec.keep
    url_text, body_of, header_list = parts.url_text, parts.body, parts.header_list
    timeout, verify, follow = step.timeout, step.verify_tls, step.follow_redirects
    stats, finish = spec.stats, _finisher(spec)

    def run(user: StepUser) -> bool:
        ctx = user.vars
        row = fixed_row or row_for(ctx)
        intended = user.take_intended_start()  # open model: when the iteration was due
        sent = now()
        url = ""
        user.busy = True  # a graceful stop lets this request finish
        try:
            url = url_text(ctx)
            body, ctype = body_of(ctx)
            headers = header_list(ctx, ctype)
            if user.session_headers:
                headers = with_session(headers, user.session_headers, ctx)
            method = step.method
            if hooks.before_request:
                hooked = checked(
                    hooks.run_before_request(user, method, url, headers, body, row.name)
                )
                method, url, headers, body = (
                    hooked.method,
                    hooked.url,
                    hooked.header_items(),
                    hooked.body,
                )
                if hooked.name != row.name:  # the hook renamed the row
                    row = stats.row(hooked.name, step.method, spec.step_name)
        except StopUser:
            user.busy = False
            raise
        except Exception as exc:  # a template or hook failed: data, not a crash
            user.busy = False
            return failed(user, row, sent if intended is None else intended, url, exc)
        # positional: a keyword call costs more than the object, on every request
        request = Request(method, url, headers, body, timeout, follow, keep, verify)
        try:
            response = user.transport.send(request)
        except Exception:  # a transport returns failures as data: this is a bug of ours
            raise
        except BaseException:  # killed at the stop with the request in flight: the server saw it
            row.failure(now() - sent, INTERRUPTED)
            raise
        finally:
            user.busy = False
        return _after(user, finish(user, row, request, response, sent, intended))

    return run


def checked(hooked: HookRequest) -> HookRequest:
    """What a `before_request` hook left, checked: a wrong type is the hook's error (data)."""
    for what, value, kinds in (
        ("method", hooked.method, str),
        ("url", hooked.url, str),
        ("name", hooked.name, str),
        ("body", hooked.body, (bytes, bytearray)),
    ):
        if not isinstance(value, kinds):
            raise TypeError(f"before_request set request.{what} to {type(value).__name__}")
    if not isinstance(hooked.headers, dict):
        raise TypeError(f"before_request set request.headers to {type(hooked.headers).__name__}")
    hooked.body = bytes(hooked.body)
    return hooked


Finish = Callable[["StepUser", "RowStats", Request, Response, float, "float | None"], bool]


def _finisher(spec: _Spec) -> Finish:
    return finisher(spec.step, spec.env, spec.checker, spec.extractor)


def finisher(step: Any, env: BuildEnv, checker: Checker, extractor: Extractor | None) -> Finish:
    """After the exchange: latency, redirect counts, hooks, checks, extraction, stats, tracing;
    True when the request succeeded. `after_response` hooks see every response, one that
    carries a transport error too (status 0, `error` set), with `response.name` its row."""
    hooks, trace, now, stats = env.hooks, env.trace, env.clock.now, env.stats
    client_delay = stats.client_delay

    def finish(
        user: StepUser,
        row: RowStats,
        request: Request,
        response: Response,
        sent: float,
        intended: float | None,
    ) -> bool:
        end = now()
        arrived = response.received_at
        if arrived is not None and sent <= arrived < end:
            client_delay(end - arrived)  # reported: a saturated generator shows in the numbers
            end = arrived  # the response was complete then; waiting for our turn is not latency
        latency = end - (sent if intended is None else intended)
        response.elapsed = latency
        if response.redirects:
            record_redirects(stats, row, response.redirects, latency)
            _time_hops(response, latency)
        if trace is not None:
            head = request.head
            response.sent_headers = list(request.headers) if head is None else _head_headers(head)
            for hop in response.history:  # each redirect followed, before the final response
                trace(user, step, hop, None)
        ctx = user.vars
        response.name = row.name
        error = response.error
        if hooks.after_response:  # on every response, a timeout or refused connection too
            failure = hooks.run_after_response(user, response, row.name)
            error = error or failure
        if error is None:
            error = checker(response, ctx)
        if extractor is not None and response.error is None:
            # a failed extraction fails the request (once); further reasons are only noted
            for failure in extractor(response, ctx):
                if error is None:
                    error = failure
                else:
                    row.note_error(failure)
        service = None if intended is None else end - sent
        row.size_bytes += response.size  # the content size: body bytes as framed on the wire
        if trace is not None:
            trace(user, step, response, error)
        if error is None:
            row.success(latency, service)
            return True
        if response.failure is None and response.error is None:
            response.failure = error  # so that code sees it: `response.ok` is False
        row.failure(latency, error, service, _example(response))
        return False

    return finish


def record_redirects(stats: Stats, row: RowStats, hops: list[float], chain: float) -> None:
    """Count each redirect the server answered on the row `<name> (redirect)`: the step's own
    row measures the whole chain once, so the totals equal the requests the server saw."""
    redirect_row = stats.row(f"{row.name} (redirect)", row.method)
    first = chain - sum(hops)  # the first exchange, which answered a redirect
    redirect_row.success(first if first > 0 else 0.0)
    for seconds in hops[:-1]:  # every hop but the last answered a redirect too
        redirect_row.success(seconds)


def _time_hops(response: Response, chain: float) -> None:
    """Each redirect response of the chain gets the seconds its exchange took."""
    hops, history = response.redirects, response.history
    if len(history) == len(hops):
        first = chain - sum(hops)
        for hop, seconds in zip(history, [first if first > 0 else 0.0, *hops[:-1]], strict=True):
            hop.elapsed = seconds


def _is_constant(step: p.RequestStep, parts: _RequestParts, hooks: HookRunner) -> bool:
    if hooks.before_request or isinstance(step.url, Template):
        return False
    values = [v for _, v in step.headers] + [v for _, v in step.query] + list(step.auth or ())
    if any(isinstance(v, Template) for v in values):
        return False
    return step.body is None or parts.body_const is not None


def _head_headers(head: bytes) -> list[tuple[str, str]]:
    """The header lines of a prebuilt request head (for --trace)."""
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [
        (name, value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
    ]


def _example(response: Response) -> str | None:
    if response.status == 0:
        return None
    head = response.body[:200].decode("utf-8", errors="replace") if response.body else ""
    return f"HTTP {response.status}: {head}" if head else f"HTTP {response.status}"


def _after(user: StepUser, ok: bool) -> bool:
    """After each request: honour a graceful stop (the in-flight request has finished)."""
    if user.stopping and not user.in_on_stop:
        raise StopUser()
    return ok
