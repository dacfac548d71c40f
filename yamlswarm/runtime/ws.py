"""The `websocket:` step's executor: one connection per user per block, its steps timed as WS rows.

`build_websocket` decides once what it can: the rows (`connect NAME`, `send NAME`,
`receive NAME`, or a step's own `name:`), constant URLs and payloads, checkers and
extractors (`runtime.checks`, `runtime.extract`, run on a received message as the
body of a `Response`). At run time a block connects, runs its steps in order and
always closes the connection at its end, also when the user stops. Failures —
refused, handshake rejected, timeouts, a close by the peer, a failed check — are
recorded rows; a failure that loses the connection ends the block.

The connection itself (`runtime.ws_conn`, gevent and wsproto) is loaded by name when
a step is built, so importing the step-kind registry never loads gevent.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Callable
from typing import Any

from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.context import BuildEnv, Executor
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.message import Origin
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.signals import StopIterationSignal, StopUser
from yamlswarm.runtime.stats import RowStats, Stats
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.runtime.ws_plan import WebSocketStep, WsClose, WsReceive, WsSend
from yamlswarm.templates import Template, renderer

__all__ = ["METHOD", "build_websocket", "ws_url"]

METHOD = "WS"
_CONNECTION = "yamlswarm.runtime.ws_conn"
Op = Callable[[Any, Any], bool]  # run(user, connection) -> False when the step failed


def ws_url(url: str, base: Origin | None) -> str:
    """The ws:// or wss:// URL of a step's URL: a path joined to `base`, or absolute."""
    if url.startswith(("ws://", "wss://")):
        return url
    if url.startswith(("http://", "https://")):
        return "ws" + url[4:]
    if url.startswith("/"):
        if base is None:
            raise ValueError(f"relative URL {url!r} needs a host (scenario 'host' or --host)")
        return f"{'wss' if base.tls else 'ws'}://{base.host_header}{url}"
    raise ValueError(f"{url!r} is not a WebSocket URL")


def build_websocket(step: WebSocketStep, env: Any) -> Executor:
    conn_module = importlib.import_module(_CONNECTION)
    connect, failure = conn_module.connect, conn_module.WsFailure
    now = env.clock.now
    row = env.stats.row(f"connect {step.name}", METHOD)
    url_of = _url_renderer(step, env.base)
    headers = [(name, renderer(value)) for name, value in step.headers]
    ops = [_build_item(item, step, env) for item in step.body]
    subprotocols, timeout, verify = step.subprotocols, step.timeout, step.verify_tls
    tls, proxy = step.tls, step.proxy

    def run(user: Any) -> bool:
        ctx = user.vars
        start = now()
        user.busy = True
        try:
            url = url_of(ctx)
            sent = [(k, as_text(v(ctx))) for k, v in headers]
            conn = connect(url, sent, subprotocols, timeout, verify, tls, proxy)
        except failure as exc:
            row.failure(now() - start, exc.name)
            return _after(user, False)
        except Exception as exc:  # a template failed or the URL is not a WebSocket URL
            row.failure(now() - start, error_text(exc))
            return _after(user, False)
        finally:
            user.busy = False
        row.success(now() - start)
        try:
            return _run_ops(ops, user, conn)
        finally:
            conn.close()

    return run


def _run_ops(ops: list[tuple[bool, Callable[..., bool]]], user: Any, conn: Any) -> bool:
    ok = True
    for own, op in ops:
        if own:
            user.busy = True
            try:
                passed = op(user, conn)
            finally:
                user.busy = False
            passed = _after(user, passed)
        else:
            passed = op(user)
        if not passed:
            ok = False
            if conn.closed or user.stop_on_failure:
                break
    if not ok and user.stop_on_failure:
        raise StopIterationSignal()
    return ok


def _after(user: Any, ok: bool) -> bool:
    """After each exchange: honour a graceful stop (the exchange has finished)."""
    if user.stopping and not user.in_on_stop:
        raise StopUser()
    return ok


def _url_renderer(step: WebSocketStep, base: Origin | None) -> Callable[[dict], str]:
    if not isinstance(step.url, Template):
        try:
            fixed = ws_url(str(step.url), base)
        except ValueError:
            pass  # reported on each attempt, as a failed connect
        else:
            return lambda ctx: fixed
    render = renderer(step.url)
    return lambda ctx: ws_url(as_text(render(ctx)), base)


def _build_item(item: Any, step: WebSocketStep, env: Any) -> tuple[bool, Callable[..., bool]]:
    if isinstance(item, WsSend):
        return True, _build_send(item, _row(env.stats, item.name, f"send {step.name}"), env)
    if isinstance(item, WsReceive):
        row = _row(env.stats, item.name, f"receive {step.name}")
        return True, _build_receive(item, row, step, env)
    if isinstance(item, WsClose):
        return True, _build_close(item, step)
    return False, env.block((item,))


def _row(stats: Stats, name: Any, default: str) -> Callable[[dict], RowStats]:
    if name is None or not isinstance(name, Template):
        fixed = stats.row(default if name is None else str(name), METHOD)
        return lambda ctx: fixed
    return lambda ctx: stats.row(as_text(name.render(ctx)), METHOD)


def _payload(op: WsSend) -> Callable[[dict], str | bytes]:
    """The message of a send step for one user context (decided once when constant)."""
    render = renderer(op.value)
    encode: Callable[[Any], str | bytes]
    if op.kind == "json":

        def encode(value: Any) -> str | bytes:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    elif op.kind == "binary":

        def encode(value: Any) -> str | bytes:
            return as_text(value).encode("utf-8")

    elif op.kind == "base64":

        def encode(value: Any) -> str | bytes:
            return base64.b64decode(as_text(value), validate=True)

    else:
        encode = as_text
    if not isinstance(op.value, Template):
        fixed = encode(op.value)
        return lambda ctx: fixed
    return lambda ctx: encode(render(ctx))


def _build_send(op: WsSend, row_of: Callable[[dict], RowStats], env: BuildEnv) -> Op:
    payload, now = _payload(op), env.clock.now

    def run(user: Any, conn: Any) -> bool:
        ctx = user.vars
        row = row_of(ctx)
        start = now()
        try:
            data = payload(ctx)
        except Exception as exc:  # a template failed: data, not a crash
            row.failure(now() - start, error_text(exc))
            return False
        error = conn.send(data)
        if error is None:
            row.size_bytes += _size(data)
            row.success(now() - start)
            return True
        row.failure(now() - start, error)
        return False

    return run


def _size(message: str | bytes) -> int:
    """A message's bytes on the wire (text as UTF-8; ASCII text costs no encoding)."""
    if isinstance(message, bytes):
        return len(message)
    return len(message) if message.isascii() else len(message.encode("utf-8"))


def _build_receive(
    op: WsReceive, row_of: Callable[[dict], RowStats], step: WebSocketStep, env: BuildEnv
) -> Op:
    checker, extractor = build_checker(op.checks), build_extractor(op.extract)
    until = build_checker(op.until) if op.until is not None else None
    timeout = step.timeout if op.timeout is None else op.timeout
    waited = f"WS receive timed out after {timeout:g}s"
    if until is not None:
        waited = f"WS receive until {'; '.join(until.descriptions)}: timed out after {timeout:g}s"
    timed_out = importlib.import_module(_CONNECTION).WsTimeout
    now, name = env.clock.now, step.name

    def run(user: Any, conn: Any) -> bool:
        ctx = user.vars
        row = row_of(ctx)
        start = now()
        while True:
            try:
                data = conn.receive(timeout - (now() - start))
            except timed_out:
                row.failure(now() - start, waited)
                return False
            except Exception as exc:
                row.failure(now() - start, getattr(exc, "name", None) or error_text(exc))
                return False
            row.size_bytes += len(data)
            message = Response(METHOD, name, 200, body=data)
            message.elapsed = now() - start
            if until is None or until(message, ctx) is None:
                break
        error = checker(message, ctx)
        if extractor is not None:
            for failed in extractor(message, ctx):
                if error is None:
                    error = failed
                else:
                    row.note_error(failed)
        if error is None:
            row.success(message.elapsed)
            return True
        row.failure(message.elapsed, error, None, data[:200].decode("utf-8", "replace"))
        return False

    return run


def _build_close(op: WsClose, step: WebSocketStep) -> Op:
    code, reason, wait = op.code, op.reason, step.timeout

    def run(user: Any, conn: Any) -> bool:
        conn.close(code, reason, wait)
        return True

    return run
