"""The `websocket:` step: one connection per user, with `send:`, `receive:` and `close:` inside.

`websocket: {url, name, headers, subprotocols, timeout, verify_tls, steps}` opens a
connection (a path joined to `host` with http→ws and https→wss, or an absolute
ws:// / wss:// URL) and runs `steps` on it: the connection's own steps (`send`,
`receive`, `close`, valid only here) and ordinary steps (think, set, log, if,
loop, ...), in order. The plan nodes are in `runtime.ws_plan`, the schema in
`kinds.ws_schema`, the executor in `runtime.ws`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yamlswarm.extractors import compile_extract
from yamlswarm.kinds.base import CompileContext, CompileEnv, Hints, JsonPath, StepKind
from yamlswarm.kinds.checks import compile_checks
from yamlswarm.kinds.request import compile_headers
from yamlswarm.kinds.ws_schema import MESSAGE_KINDS, SCHEMA, SETTINGS
from yamlswarm.runtime.ws import build_websocket
from yamlswarm.runtime.ws_plan import WS_KEYS, WebSocketStep, WsClose, WsReceive, WsSend

__all__ = ["KIND", "compile_websocket"]

_URL_PREFIXES = ("/", "ws://", "wss://", "http://", "https://")


def compile_websocket(
    ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv
) -> WebSocketStep:
    where = (*path, "websocket")
    options = ctx.mapping(where, step["websocket"])
    raw_url = options.get("url", "")
    url = ctx.value((*where, "url"), raw_url)
    if isinstance(url, str) and not url.startswith(_URL_PREFIXES):
        ctx.error((*where, "url"), f"{url!r} is not a WebSocket URL: use a path, ws:// or wss://")
    steps_path = (*where, "steps")
    body = []
    for index, raw in enumerate(ctx.sequence(steps_path, options.get("steps"))):
        item = _body_step(ctx, raw, (*steps_path, index), env)
        if item is not None:
            body.append(item)
    defaults = env.defaults
    verify = options.get("verify_tls")
    return WebSocketStep(
        url=url,
        name=str(options.get("name") or raw_url),
        body=tuple(body),
        headers=compile_headers(ctx, options.get("headers"), (*where, "headers")),
        subprotocols=tuple(
            str(p) for p in ctx.sequence((*where, "subprotocols"), options.get("subprotocols"))
        ),
        timeout=ctx.seconds((*where, "timeout"), options.get("timeout"), defaults.timeout),
        verify_tls=defaults.verify_tls if verify is None else bool(verify),
        tls=defaults.tls,
        proxy=defaults.proxy,
        source=ctx.source(path),
    )


def _body_step(ctx: CompileContext, raw: Any, path: JsonPath, env: CompileEnv) -> Any:
    """A step of `websocket.steps`: one of the connection's own, or an ordinary step."""
    if isinstance(raw, dict):
        for key in WS_KEYS:
            if key in raw:
                return _OPS[key](ctx, raw, path)
    return env.step(ctx, raw, path)


def _name(ctx: CompileContext, step: dict, path: JsonPath) -> Any:
    return ctx.value((*path, "name"), step["name"]) if "name" in step else None


def _send(ctx: CompileContext, step: dict, path: JsonPath) -> WsSend:
    where = (*path, "send")
    raw = step["send"]
    if not isinstance(raw, dict):
        text = raw if isinstance(raw, str) else str(raw)
        return WsSend("text", ctx.value(where, text), _name(ctx, step, path), ctx.source(path))
    kind = next((k for k in MESSAGE_KINDS if k in raw), "json")
    value = ctx.value((*where, kind), raw.get(kind))
    if kind == "base64" and isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            ctx.error((*where, kind), f"{value[:40]!r} is not base64")
    return WsSend(kind, value, _name(ctx, step, path), ctx.source(path))


def _receive(ctx: CompileContext, step: dict, path: JsonPath) -> WsReceive:
    where = (*path, "receive")
    options = ctx.mapping(where, step["receive"])
    until = options.get("until")
    return WsReceive(
        timeout=ctx.duration((*where, "timeout"), options.get("timeout")),
        checks=compile_checks(ctx, options.get("check"), (*where, "check")),
        extract=compile_extract(ctx, options.get("extract"), (*where, "extract")),
        until=None if until is None else compile_checks(ctx, until, (*where, "until")),
        name=_name(ctx, step, path),
        source=ctx.source(path),
    )


def _close(ctx: CompileContext, step: dict, path: JsonPath) -> WsClose:
    where = (*path, "close")
    options = ctx.mapping(where, step["close"])
    reason = options.get("reason", "")
    return WsClose(
        code=ctx.integer((*where, "code"), options.get("code"), 1000, minimum=1000),
        reason=reason if isinstance(reason, str) else str(reason),
        source=ctx.source(path),
    )


_OPS: dict[str, Callable[[CompileContext, dict, JsonPath], Any]] = {
    "send": _send,
    "receive": _receive,
    "close": _close,
}


def _assigns(step: Mapping[Any, Any]) -> Iterator[Any]:
    """The variables the `receive:` steps of a websocket step extract."""
    options = step.get("websocket")
    items = options.get("steps") if isinstance(options, dict) else None
    for item in items if isinstance(items, list) else ():
        receive = item.get("receive") if isinstance(item, dict) else None
        extract = receive.get("extract") if isinstance(receive, dict) else None
        if isinstance(extract, dict):
            yield from (k for k in extract if isinstance(k, str))


KIND = StepKind(
    name="websocket",
    keys={"websocket": "Open a WebSocket and run steps on it: {url, steps, ...}."},
    plan_type=WebSocketStep,
    compile=compile_websocket,
    build=build_websocket,
    schema=SCHEMA,
    stats_method=None,  # its rows (method WS) are exchanges, counted like requests
    assigns=_assigns,
    nested=(("websocket", "steps"),),
    children=("steps",),
    hints=Hints(
        nouns={
            "websocket": "a mapping {url, steps}",
            "ws_message": "a message: text, {json: value}, {binary: text} or {base64: data}",
            "ws_receive": "a mapping {timeout, check, extract, until}",
            "ws_close": "a mapping {code, reason}",
        },
        subjects={"ws_op": "a WebSocket step", "ws_message": "a message to send"},
        inside={"websocket": tuple(SETTINGS)},
        step_keys=frozenset(WS_KEYS),
    ),
)
