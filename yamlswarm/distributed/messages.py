"""The master/worker protocol: one small typed dataclass per message, msgpack on the wire.

A frame is the msgpack array `[PROTOCOL, TYPE, {field: value}]`. `PROTOCOL` is
the protocol version: a peer that speaks another one is refused during the
handshake (`Hello` carries it too, so the refusal can say which versions met).
Fields are plain msgpack values (str, int, float, bytes, lists, dicts).

    worker -> master   Hello, Ready, Report, Heartbeat, Done, Failed
    master -> worker   Welcome, Refused, Start, Heartbeat, Stop, Quit

Handshake: Hello -> Welcome (the bundle) | Refused; then Ready (the bundle's
hash, after the worker compiled it) -> Start (this worker's share) | Refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack

PROTOCOL = 1

__all__ = [
    "PROTOCOL",
    "Done",
    "Failed",
    "Heartbeat",
    "Hello",
    "Message",
    "ProtocolError",
    "Quit",
    "Ready",
    "Refused",
    "Report",
    "Start",
    "Stop",
    "Welcome",
    "decode",
    "encode",
]


class ProtocolError(ValueError):
    """A frame that is not a message of this protocol version."""


@dataclass(frozen=True)
class Message:
    """Base of every message; `TYPE` is its name on the wire."""

    TYPE: ClassVar[str] = ""


@dataclass(frozen=True)
class Hello(Message):
    """A worker asks to join: who it is and what it speaks."""

    TYPE: ClassVar[str] = "hello"
    name: str
    version: str  # yamlswarm version
    protocol: int = PROTOCOL
    host: str = ""
    pid: int = 0


@dataclass(frozen=True)
class Welcome(Message):
    """The master accepts a worker and ships the bundle and the run settings."""

    TYPE: ClassVar[str] = "welcome"
    worker_id: str
    bundle: bytes
    bundle_hash: str
    scenario: str  # path of the scenario file inside the bundle
    settings: dict[str, Any] = field(default_factory=dict)
    heartbeat: float = 1.0
    heartbeat_timeout: float = 10.0


@dataclass(frozen=True)
class Refused(Message):
    """The master will not run this worker; `reason` is shown to the user."""

    TYPE: ClassVar[str] = "refused"
    reason: str


@dataclass(frozen=True)
class Ready(Message):
    """The worker unpacked and compiled the bundle whose hash it computed."""

    TYPE: ClassVar[str] = "ready"
    bundle_hash: str


@dataclass(frozen=True)
class Start(Message):
    """Start the load: this worker's share is partition `index` of `count`."""

    TYPE: ClassVar[str] = "start"
    index: int
    count: int
    seed: int | None = None


@dataclass(frozen=True)
class Report(Message):
    """Once a second: the numbers since the previous report (Stats.export(reset=True))."""

    TYPE: ClassVar[str] = "report"
    stats: dict[str, Any]
    users: int
    time: float  # the worker's wall clock when the report was made


@dataclass(frozen=True)
class Heartbeat(Message):
    """Both ways, every heartbeat interval: "still here"."""

    TYPE: ClassVar[str] = "heartbeat"
    users: int = 0


@dataclass(frozen=True)
class Stop(Message):
    """The master asks a worker to stop its users (and then send Done)."""

    TYPE: ClassVar[str] = "stop"
    reason: str


@dataclass(frozen=True)
class Done(Message):
    """A worker finished: the last numbers and why it stopped."""

    TYPE: ClassVar[str] = "done"
    stats: dict[str, Any]
    reason: str
    interrupted: bool = False


@dataclass(frozen=True)
class Failed(Message):
    """A worker could not run the bundle (invalid, a hook failed to import, ...)."""

    TYPE: ClassVar[str] = "failed"
    error: str


@dataclass(frozen=True)
class Quit(Message):
    """The run is over: the worker may exit."""

    TYPE: ClassVar[str] = "quit"
    reason: str = ""


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Welcome, Refused, Ready, Start, Report, Heartbeat, Stop, Done, Failed, Quit)
}


def encode(message: Message) -> bytes:
    """The wire form of a message."""
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    return msgpack.packb([PROTOCOL, message.TYPE, fields], use_bin_type=True)


def decode(frame: bytes) -> Message:
    """A message from its wire form; raises ProtocolError for anything else."""
    try:
        item = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"not a yamlswarm message ({exc})") from None
    if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], dict)):
        raise ProtocolError("not a yamlswarm message")
    protocol, kind, fields = item
    if protocol != PROTOCOL:
        raise ProtocolError(f"protocol version {protocol!r} (this side speaks {PROTOCOL})")
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ProtocolError(f"bad {kind!r} message: {exc}") from None
