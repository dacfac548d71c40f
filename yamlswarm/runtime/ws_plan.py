"""The plan nodes of the `websocket:` step and of the steps only valid inside it.

    WebSocketStep    one connection: its URL, headers, subprotocols and body
    WsSend           `send:` one message (text, JSON, or bytes)
    WsReceive        `receive:` one message, with checks, extraction and `until`
    WsClose          `close:` the connection

Shared by the kind (`kinds.websocket`, which compiles them) and the runtime
(`runtime.ws`, which builds their executors); imports nothing but the plan. It lives
in the runtime so that `runtime.ws` can be imported without the step-kind registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yamlswarm.plan import NOWHERE, Checks, Extract, Source, Step, TlsSettings, Value

__all__ = ["WS_KEYS", "WebSocketStep", "WsClose", "WsOp", "WsReceive", "WsSend"]

WS_KEYS = ("send", "receive", "close")  # keys of the steps only valid in `websocket.steps`


@dataclass(frozen=True, slots=True)
class WsSend:
    """One message: `kind` is "text" (a string), "json" (any value) or "binary" (bytes)."""

    kind: str
    value: Value
    name: Value | None = None  # the stats row name (default: "send " + the connection's name)
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class WsReceive:
    """One message, awaited up to `timeout`; with `until`, messages that fail it are skipped."""

    timeout: float | None = None  # None: the connection's timeout
    checks: Checks = field(default_factory=Checks)
    extract: tuple[Extract, ...] = ()
    until: Checks | None = None
    name: Value | None = None
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class WsClose:
    """Close the connection with `code` (the peer's answer is awaited up to the timeout)."""

    code: int = 1000
    reason: str = ""
    source: Source = NOWHERE


WsOp = WsSend | WsReceive | WsClose


@dataclass(frozen=True, slots=True)
class WebSocketStep:
    """`websocket:` one connection per user, open for `body`, closed at its end.

    `body` holds, in order, the connection's own steps (`WsOp`) and ordinary plan
    steps; `steps` is the ordinary ones alone, the children the registry walks.
    """

    url: Value
    name: str  # the connection's name in its stats rows (default: the URL as written)
    body: tuple[Any, ...]  # WsOp | Step
    headers: tuple[tuple[str, Value], ...] = ()
    subprotocols: tuple[str, ...] = ()
    timeout: float = 30.0
    verify_tls: bool = True
    tls: TlsSettings = field(default_factory=TlsSettings)  # `defaults.tls`: CA bundle, client cert
    proxy: str | None = None  # `defaults.proxy` (None: HTTP_PROXY / HTTPS_PROXY / NO_PROXY)
    source: Source = NOWHERE

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.body if not isinstance(s, (WsSend, WsReceive, WsClose)))
