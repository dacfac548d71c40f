"""Step executors: each plan step becomes, once per process, a small function `run(user) -> bool`.

A registry maps each plan step type to its builder (STYLE 3). Everything that
can be decided before the run — constant URLs, request heads, JSON bodies,
stats rows, checkers — is decided here, so one request of one user does only
what its templates require. An executor returns False when its step failed;
only stop signals (`runtime.signals`) unwind a user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import gevent

from yamlswarm import plan as p
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.http.session import DEFAULT_BODY_LIMIT, Origin, build_head, split_url
from yamlswarm.runtime.signals import StopIterationSignal, StopUser
from yamlswarm.templates import Template, renderer

if TYPE_CHECKING:
    from yamlswarm.runtime.hook_calls import HookRunner
    from yamlswarm.runtime.stats import Stats
    from yamlswarm.runtime.user import VirtualUser

Executor = Callable[["VirtualUser"], bool]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LOOP_WHILE_MAX = 1000


@dataclass
class BuildEnv:
    """What step builders need from the run: stats, the base origin, hooks, tracing."""

    stats: Stats
    base: Origin | None
    hooks: HookRunner
    trace: Callable[..., None] | None = None  # set by --trace: called with each exchange
    log: Callable[[str], None] = print
    _log_times: dict[str, float] = field(default_factory=dict)


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def _error_text(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# --------------------------------------------------------------------------- requests


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
            [(k, _text(v)) for k, v in pairs]
        ).encode(), "application/x-www-form-urlencoded"
    if body.kind == "files":
        return _multipart(value)
    data = value if isinstance(value, bytes) else _text(value).encode()
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

    def __init__(self, step: p.RequestStep, base: Origin | None) -> None:
        self.step = step
        self.base = base
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
        url = _text(self.url(ctx))
        if self.query:
            query: list[tuple[str, str]] = []
            for name, render in self.query:
                value = render(ctx)
                values = value if isinstance(value, list) else [value]
                query.extend((name, _text(v)) for v in values)
            url += ("&" if "?" in url else "?") + urlencode(query)
        return url

    def header_list(self, ctx: dict, content_type: str | None) -> list[tuple[str, str]]:
        headers = [(name, _text(render(ctx))) for name, render in self.headers]
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


def build_request(step: p.RequestStep, env: BuildEnv) -> Executor:
    parts = _RequestParts(step, env.base)
    method = step.method
    stats = env.stats
    name = _row_name(step)
    fixed_row = stats.row(name, method) if not isinstance(name, Template) else None
    name_render = name.render if isinstance(name, Template) else None
    checker = build_checker(step.checks)
    extractor = build_extractor(step.extract)
    hooks = env.hooks
    for description in checker.descriptions:
        if fixed_row is not None:
            stats.register_check(name, method, description)
    needs_body = step.checks.needs_body or bool(step.extract) or hooks.after_response or env.trace
    keep = DEFAULT_BODY_LIMIT if needs_body else 0
    timeout, verify, follow = step.timeout, step.verify_tls, step.follow_redirects

    # The fast path: URL, query, headers, auth and body are constant and no hook
    # rewrites them, so the whole request head is built once, here.
    prebuilt: tuple[Origin, bytes, bytes] | None = None
    if _is_constant(step, parts, hooks):
        try:
            origin, target = split_url(parts.url_text({}), env.base)
        except ValueError:
            pass  # reported per request, by the general path
        else:
            body, ctype = parts.body_const or (b"", None)
            prebuilt = (origin, build_head(method, target, parts.header_list({}, ctype)), body)

    def run(user: VirtualUser) -> bool:
        ctx = user.vars
        row = fixed_row or stats.row(_text(name_render(ctx)), method)  # type: ignore[misc]
        intended = user.take_intended_start()  # open model: when the iteration was due
        sent = time.perf_counter()
        start = sent if intended is None else intended
        url = ""
        headers: list[tuple[str, str]] = []
        user.busy = True  # a graceful stop lets this request finish
        try:
            if prebuilt is not None:
                origin, head, body = prebuilt
                response = user.session.exchange(origin, head, body, method, timeout, keep, verify)
            else:
                url = parts.url_text(ctx)
                body, ctype = parts.body(ctx)
                headers = parts.header_list(ctx, ctype)
                req_method = method
                if hooks.before_request:
                    request = hooks.run_before_request(user, req_method, url, headers, body)
                    req_method, url, headers, body = (
                        request.method,
                        request.url,
                        request.header_items(),
                        request.body,
                    )
                response = user.session.request(
                    req_method,
                    url,
                    headers=headers,
                    body=body,
                    timeout=timeout,
                    follow_redirects=False,
                    keep=keep,
                    verify_tls=verify,
                )
        except StopUser:
            raise
        except Exception as exc:  # a template or hook failed: data, not a crash
            text = _error_text(exc)
            row.failure(time.perf_counter() - start, text)
            if env.trace is not None:
                env.trace(user, step, Response(method, url or _text(step.url), error=text), text)
            return _after(user, False)
        finally:
            user.busy = False
        if follow and response.status in _REDIRECTS:
            response = _follow(
                user, response, url or _url_of(prebuilt), method, timeout, keep, verify
            )
        now = time.perf_counter()
        arrived = response.received_at
        if arrived is not None and sent <= arrived < now:
            now = arrived  # the response was complete then; waiting for our turn is not latency
        latency = now - start
        response.elapsed = latency
        if env.trace is not None:
            response.url = url or _url_of(prebuilt)
            response.sent_headers = headers if prebuilt is None else _head_headers(prebuilt[1])
        error = response.error
        if error is None and hooks.after_response:
            error = hooks.run_after_response(user, response)
        if error is None:
            error = checker(response, ctx)
        if extractor is not None and response.error is None:
            # a failed extraction fails the request (once); further reasons are only noted
            for failure in extractor(response, ctx):
                if error is None:
                    error = failure
                else:
                    row.note_error(failure)
        service = None if intended is None else now - sent
        if env.trace is not None:
            env.trace(user, step, response, error)
        if error is None:
            row.success(latency, service)
            return _after(user, True)
        row.failure(latency, error, service, _example(response))
        return _after(user, False)

    return run


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


def _url_of(prebuilt: tuple[Origin, bytes, bytes] | None) -> str:
    if prebuilt is None:
        return ""
    origin, head, _ = prebuilt
    target = head.split(b" ", 2)[1].decode("latin-1")
    return f"{origin!r}{target}"


def _follow(
    user: VirtualUser,
    response: Response,
    url: str,
    method: str,
    timeout: float,
    keep: int,
    verify: bool,
) -> Response:
    location = response.headers.get("location")
    if not location:
        return response
    from urllib.parse import urljoin

    if not url.startswith(("http://", "https://")) and user.session.base is not None:
        url = f"{user.session.base!r}{url}"
    next_method = (
        "GET"
        if response.status == 303 or (response.status in (301, 302) and method == "POST")
        else method
    )
    return user.session.request(
        next_method,
        urljoin(url, location),
        timeout=timeout,
        follow_redirects=True,
        keep=keep,
        verify_tls=verify,
    )


def _example(response: Response) -> str | None:
    if response.status == 0:
        return None
    head = response.body[:200].decode("utf-8", errors="replace") if response.body else ""
    return f"HTTP {response.status}: {head}" if head else f"HTTP {response.status}"


def _after(user: VirtualUser, ok: bool) -> bool:
    """After each request: honour a graceful stop (the in-flight request has finished)."""
    if user.stopping and not user.in_on_stop:
        raise StopUser()
    return ok


# --------------------------------------------------------------------------- other steps


def build_think(step: p.ThinkStep, env: BuildEnv) -> Executor:
    wait = step.wait

    def run(user: VirtualUser) -> bool:
        delay = wait.low if wait.kind == "constant" else user.rng.uniform(wait.low, wait.high)
        user.sleep(delay)
        return True

    return run


def build_set(step: p.SetStep, env: BuildEnv) -> Executor:
    assignments = [(name, renderer(v)) for name, v in step.assignments]

    def run(user: VirtualUser) -> bool:
        ctx = user.vars
        try:
            for name, render in assignments:
                ctx[name] = render(ctx)
        except Exception as exc:
            env.stats.row(f"set {', '.join(n for n, _ in assignments)}", "SET").failure(
                0.0, _error_text(exc)
            )
            return False
        return True

    return run


def build_if(step: p.IfStep, env: BuildEnv) -> Executor:
    condition = renderer(step.condition)
    then = build_steps(step.then, env)
    otherwise = build_steps(step.else_, env)
    row_name = (
        f"if {step.condition.source if isinstance(step.condition, Template) else step.condition}"
    )

    def run(user: VirtualUser) -> bool:
        try:
            chosen = then if condition(user.vars) else otherwise
        except Exception as exc:
            env.stats.row(row_name, "IF").failure(0.0, _error_text(exc))
            return False
        return run_steps(chosen, user)

    return run


def build_loop(step: p.LoopStep, env: BuildEnv) -> Executor:
    body = build_steps(step.steps, env)
    as_name = step.as_
    limit = step.max
    row_name = f"loop {step.source.path or ''}".strip()
    count = renderer(step.count) if step.count is not None else None
    over = renderer(step.over) if step.over is not None else None
    condition = renderer(step.while_)

    def items_of(user: VirtualUser) -> Any:
        """The loop's items for `count`/`over`; None for a `while` loop."""
        if count is not None:
            n = int(count(user.vars))
            return range(min(n, limit) if limit else n)
        if over is not None:
            items = over(user.vars)
            items = items if isinstance(items, (list, tuple)) else list(items)
            return items[:limit] if limit else items
        return None

    def failed(exc: Exception) -> bool:
        env.stats.row(row_name, "LOOP").failure(0.0, _error_text(exc))
        return False

    def run(user: VirtualUser) -> bool:
        ok = True
        try:
            items = items_of(user)
        except Exception as exc:
            return failed(exc)
        if items is not None:
            for item in items:
                user.vars[as_name] = item
                ok = run_steps(body, user) and ok
            return ok
        for index in range(limit or _LOOP_WHILE_MAX):
            user.vars[as_name] = index
            try:
                if not condition(user.vars):
                    break
            except Exception as exc:
                return failed(exc)
            ok = run_steps(body, user) and ok
        return ok

    return run


def build_group(step: p.GroupStep, env: BuildEnv) -> Executor:
    body = build_steps(step.steps, env)
    row = env.stats.row(step.name, "GROUP")

    def run(user: VirtualUser) -> bool:
        start = time.perf_counter()
        try:
            ok = run_steps(body, user)
        except StopIterationSignal:
            row.failure(time.perf_counter() - start, "a step of the group failed")
            raise
        if ok:
            row.success(time.perf_counter() - start)
        else:
            row.failure(time.perf_counter() - start, "a step of the group failed")
        return ok

    return run


def build_call(step: p.CallStep, env: BuildEnv) -> Executor:
    function = env.hooks.function(step.function)
    row = env.stats.row(step.function, "CALL")

    def run(user: VirtualUser) -> bool:
        start = time.perf_counter()
        try:
            function(user.api)
        except StopUser:
            raise
        except Exception as exc:
            env.hooks.report_exception(step.function, exc)
            row.failure(time.perf_counter() - start, _error_text(exc))
            return False
        return True

    return run


def build_log(step: p.LogStep, env: BuildEnv) -> Executor:
    message = renderer(step.message)
    key = f"{step.source}"

    def run(user: VirtualUser) -> bool:
        now = time.monotonic()
        if now - env._log_times.get(key, -1e9) < 1.0:  # at most one line per second per log step
            return True
        env._log_times[key] = now
        try:
            text = _text(message(user.vars))
        except Exception as exc:
            text = f"<log template failed: {_error_text(exc)}>"
        env.log(f"[{user.name} #{user.id}] {text}")
        return True

    return run


BUILDERS: dict[type, Callable[[Any, BuildEnv], Executor]] = {
    p.RequestStep: build_request,
    p.ThinkStep: build_think,
    p.SetStep: build_set,
    p.IfStep: build_if,
    p.LoopStep: build_loop,
    p.GroupStep: build_group,
    p.CallStep: build_call,
    p.LogStep: build_log,
}


def build_steps(steps: Sequence[p.Step], env: BuildEnv) -> tuple[Executor, ...]:
    return tuple(BUILDERS[type(step)](step, env) for step in steps)


def run_steps(executors: tuple[Executor, ...], user: VirtualUser) -> bool:
    """Run steps in order; in a `stop_on_failure` flow a failure ends the iteration."""
    ok = True
    for execute in executors:
        if not execute(user):
            ok = False
            if user.stop_on_failure:
                raise StopIterationSignal()
    return ok


def sleep(seconds: float) -> None:
    if seconds > 0:
        gevent.sleep(seconds)
