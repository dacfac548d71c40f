"""The JSON Schema fragments (`$defs`) of the `websocket:` step and of its own steps.

`websocket.steps` holds `ws_step`s: a mapping with `send`, `receive` or `close` is
one of the connection's steps (`ws_op`), anything else must be an ordinary `step`.
So `send`/`receive`/`close` are valid there and nowhere else.
"""

from __future__ import annotations

from typing import Any

from yamlswarm.kinds.base import one_key_step
from yamlswarm.runtime.ws_plan import WS_KEYS

__all__ = ["MESSAGE_KINDS", "SCHEMA", "SETTINGS"]

MESSAGE_KINDS = ("json", "binary", "base64")  # the forms of `send: {...}`

_NAME = {
    "$ref": "#/$defs/text",
    "description": "Stats row name of this step (default: 'send'/'receive' and the connection's name).",
}
SETTINGS: dict[str, Any] = {
    "url": {
        "$ref": "#/$defs/text",
        "description": "A path joined to host (http→ws, https→wss) or a ws:// / wss:// URL; may be a template.",
    },
    "name": {
        "type": "string",
        "description": "The connection's name in its stats rows (default: the URL as written).",
    },
    "headers": {"$ref": "#/$defs/headers", "description": "Headers of the opening handshake."},
    "subprotocols": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Subprotocols offered in the handshake (Sec-WebSocket-Protocol).",
    },
    "timeout": {
        "$ref": "#/$defs/duration",
        "description": "Connect, handshake and send timeout, and the default receive timeout "
        "(default: defaults.timeout, else 30s).",
    },
    "verify_tls": {
        "type": "boolean",
        "description": "Verify the wss:// server's certificate (default: defaults.verify_tls, else true).",
    },
    "steps": {
        "$ref": "#/$defs/ws_steps",
        "description": "send, receive and close steps, and ordinary steps, run in order.",
    },
}
_WEBSOCKET: dict[str, Any] = {
    "type": "object",
    "description": "One WebSocket connection per user, open while its steps run.",
    "properties": SETTINGS,
    "required": ["url", "steps"],
    "additionalProperties": False,
}
_CHECK: dict[str, Any] = {
    "type": "object",
    "description": "Checks on a received message.",
    "properties": {
        "jmespath": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/jmespath_check"},
            "description": "Checks on the message as JSON: [{expr, <comparison>: value}].",
        },
        "body_contains": {"$ref": "#/$defs/text", "description": "The message contains this text."},
        "body_matches": {"type": "string", "description": "The message matches this regex."},
        "max_latency": {
            "$ref": "#/$defs/duration",
            "description": "The message must arrive within this time.",
        },
    },
    "additionalProperties": False,
}
_MESSAGE: dict[str, Any] = {
    "type": "object",
    "description": "A message: exactly one of json, binary, base64.",
    "properties": {
        "json": {"description": "Any value, sent as a JSON text message; may hold templates."},
        "binary": {"$ref": "#/$defs/text", "description": "Text sent as a binary message (UTF-8)."},
        "base64": {"$ref": "#/$defs/text", "description": "Base64 data, sent decoded as binary."},
    },
    "oneOf": [{"required": [kind]} for kind in MESSAGE_KINDS],
    "additionalProperties": False,
}
_SEND: dict[str, Any] = {
    "type": ["string", "number", "boolean", "object"],
    "description": "Text (a template), or {json: value}, {binary: text}, {base64: data}.",
    "if": {"type": "object"},
    "then": {"$ref": "#/$defs/ws_message"},
}
_RECEIVE: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Wait for one message: {timeout, check, extract, until}.",
    "properties": {
        "timeout": {
            "$ref": "#/$defs/duration",
            "description": "How long to wait (default: the connection's timeout).",
        },
        "check": {"$ref": "#/$defs/ws_check", "description": "Checks on the message."},
        "extract": {
            "$ref": "#/$defs/extract",
            "description": "Values to store from the message (jmespath on its JSON, or regex).",
        },
        "until": {
            "$ref": "#/$defs/ws_check",
            "description": "Skip messages until one passes these checks (within the timeout).",
        },
    },
    "additionalProperties": False,
}
_CLOSE: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Close the connection: {code, reason}.",
    "properties": {
        "code": {
            "type": "integer",
            "minimum": 1000,
            "maximum": 4999,
            "description": "Close code (default 1000).",
        },
        "reason": {"type": "string", "description": "Close reason."},
    },
    "additionalProperties": False,
}


def _op_step(key: str, value: dict[str, Any], description: str) -> dict[str, Any]:
    step = one_key_step(key, description, value)
    if key != "close":
        step["properties"]["name"] = _NAME
    return step


SCHEMA: dict[str, Any] = {
    "websocket_step": one_key_step(
        "websocket",
        "Open a WebSocket and run steps on it.",
        {"$ref": "#/$defs/websocket", "description": "{url, steps, headers, subprotocols, ...}."},
    ),
    "websocket": _WEBSOCKET,
    "ws_steps": {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/$defs/ws_step"},
        "description": "The steps of a websocket: send, receive, close and ordinary steps.",
    },
    "ws_step": {
        "description": "send, receive or close; or any ordinary step.",
        "if": {"type": "object", "anyOf": [{"required": [key]} for key in WS_KEYS]},
        "then": {"$ref": "#/$defs/ws_op"},
        "else": {"$ref": "#/$defs/step"},
    },
    "ws_op": {
        "type": "object",
        "description": "A step of the connection: exactly one of send, receive, close.",
        "properties": {key: {"description": f"{key} (see ws_{key}_step)"} for key in WS_KEYS},
        "oneOf": [{"required": [key]} for key in WS_KEYS],
        "allOf": [
            {"if": {"required": [key]}, "then": {"$ref": f"#/$defs/ws_{key}_step"}}
            for key in WS_KEYS
        ],
    },
    "ws_send_step": _op_step(
        "send", {"$ref": "#/$defs/ws_send", "description": "The message."}, "Send one message."
    ),
    "ws_receive_step": _op_step(
        "receive",
        {"$ref": "#/$defs/ws_receive", "description": "What to expect."},
        "Receive one message.",
    ),
    "ws_close_step": _op_step(
        "close",
        {"$ref": "#/$defs/ws_close", "description": "How to close."},
        "Close the connection.",
    ),
    "ws_send": _SEND,
    "ws_message": _MESSAGE,
    "ws_receive": _RECEIVE,
    "ws_check": _CHECK,
    "ws_close": _CLOSE,
}
