"""The request step's executor: a `RequestStep` becomes `run(user) -> bool`, built once per process.

Everything that can be decided before the run — constant URLs, request heads,
JSON bodies, stats rows, checkers — is decided in `build_request`, so one
request of one user does only what its templates require.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from yamlswarm import plan as p
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.message import DEFAULT_BODY_LIMIT, Origin, build_head, split_url
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.signals import StopUser
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import Template, renderer

if TYPE_CHECKING:
    from yamlswarm.runtime.context import BuildEnv, Executor
    from yamlswarm.runtime.hook_calls import HookRunner
    from yamlswarm.runtime.user import VirtualUser

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        url = as_text(self.url(ctx))
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
        row = fixed_row or stats.row(as_text(name_render(ctx)), method)  # type: ignore[misc]
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
            text = error_text(exc)
            row.failure(time.perf_counter() - start, text)
            if env.trace is not None:
                env.trace(user, step, Response(method, url or as_text(step.url), error=text), text)
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
