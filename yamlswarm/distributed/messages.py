"""The master/worker protocol: one small typed dataclass per message, msgpack on the wire.

A frame is the msgpack array `[PROTOCOL, TYPE, {field: value}]`. `PROTOCOL` is
the protocol version: a peer that speaks another one is refused during the
handshake (`Hello` carries it too, so the refusal can say which versions met).
Fields are plain msgpack values (str, int, float, bytes, lists, dicts).

    worker -> master   Hello, Ready, Report, Heartbeat, Done, Failed
    master -> worker   Welcome, Refused, Start, Heartbeat, Steer, Stop, Quit

Handshake: Hello -> Welcome (the bundle) | Refused; then Ready (the bundle's
hash, after the worker compiled it) -> Start (this worker's share) | Refused.

`decode` checks every field against its annotation (an `int` is an int, not a
string or a bool; a `dict[str, Any]` has string keys) and each message's own
rules (`Message.problem`: counts are not negative, intervals are finite and
positive), so a handler never sees a value of the wrong kind. What a stats
export holds is checked where it is merged (exports.py).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
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
    "Steer",
    "Stop",
    "Welcome",
    "decode",
    "encode",
    "heartbeat_problem",
]


class ProtocolError(ValueError):
    """A frame that is not a message of this protocol version."""


@dataclass(frozen=True)
class Message:
    """Base of every message; `TYPE` is its name on the wire."""

    TYPE: ClassVar[str] = ""

    def problem(self) -> str:
        """What is wrong with the values of a decoded message ("" when nothing is)."""
        return ""


@dataclass(frozen=True)
class Hello(Message):
    """A worker asks to join: who it is and what it speaks."""

    TYPE: ClassVar[str] = "hello"
    name: str
    version: str  # yamlswarm version
    protocol: int = PROTOCOL
    host: str = ""
    pid: int = 0

    def problem(self) -> str:
        longest = max(len(self.name), len(self.version), len(self.host))
        return f"a name of {longest} characters" if longest > MAX_NAME_CHARS else ""


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

    def problem(self) -> str:
        return heartbeat_problem(self.heartbeat, self.heartbeat_timeout)


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
    steered: bool = False  # the web UI may change users and rates mid-run (Steer)

    def problem(self) -> str:
        ok = 0 <= self.index < self.count
        return "" if ok else f"share {self.index} of {self.count} does not exist"


@dataclass(frozen=True)
class Steer(Message):
    """New targets for this worker's share, from the web UI (None: unchanged)."""

    TYPE: ClassVar[str] = "steer"
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None

    def problem(self) -> str:
        for name in ("users", "spawn_rate", "rate"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                return f"{name} {value}"
        return ""


@dataclass(frozen=True)
class Report(Message):
    """Once a second: the numbers since the previous report (Stats.export(reset=True))."""

    TYPE: ClassVar[str] = "report"
    stats: dict[str, Any]
    users: int
    time: float  # the worker's wall clock when the report was made

    def problem(self) -> str:
        if self.users < 0:
            return f"{self.users} users"
        return "" if math.isfinite(self.time) else f"a time of {self.time}"


@dataclass(frozen=True)
class Heartbeat(Message):
    """Both ways, every heartbeat interval: "still here"."""

    TYPE: ClassVar[str] = "heartbeat"
    users: int = 0

    def problem(self) -> str:
        return f"{self.users} users" if self.users < 0 else ""


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
    for cls in (
        *(Hello, Welcome, Refused, Ready, Start, Report, Heartbeat, Stop, Done, Failed, Quit),
        Steer,
    )
}


MAX_NAME_CHARS = 256  # a worker's name, version and host name are shown in messages
MIN_HEARTBEAT_S = 0.05  # more often would flood the sockets with heartbeats
MAX_HEARTBEAT_S = 3600.0
MAX_HEARTBEAT_TIMEOUT_S = 86400.0


def heartbeat_problem(
    interval: float, timeout: float, names: tuple[str, str] = ("heartbeat", "heartbeat timeout")
) -> str:
    """What is wrong with a heartbeat interval and timeout ("" when they are usable)."""
    for name, value, top in (
        (names[0], interval, MAX_HEARTBEAT_S),
        (names[1], timeout, MAX_HEARTBEAT_TIMEOUT_S),
    ):
        if not (math.isfinite(value) and MIN_HEARTBEAT_S <= value <= top):
            shown = f"{value:g}s" if math.isfinite(value) else f"{value}"
            return f"{name} must be between {MIN_HEARTBEAT_S:g}s and {top:g}s, not {shown}"
    if timeout <= interval:
        return f"{names[1]} ({timeout:g}s) must be longer than {names[0]} ({interval:g}s)"
    return ""


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
    if type(protocol) is not int or protocol != PROTOCOL:
        raise ProtocolError(
            f"protocol version {_shown(protocol)} (this side speaks {PROTOCOL}); "
            f"install the same yamlswarm version everywhere"
        )
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {_shown(kind)}")
    try:
        message = cls(**fields)
    except TypeError as exc:
        raise ProtocolError(f"bad {kind!r} message: {exc}") from None
    problem = _field_problem(message) or message.problem()
    if problem:
        raise ProtocolError(f"bad {kind!r} message: {problem}")
    return message


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_HINTS: dict[type[Message], dict[str, Any]] = {
    cls: typing.get_type_hints(cls) for cls in MESSAGE_TYPES.values()
}


def _field_problem(message: Message) -> str:
    hints = _HINTS[type(message)]
    for item in dataclasses.fields(message):
        value = getattr(message, item.name)
        if not _conforms(value, hints[item.name]):
            return f"{item.name} is {type(value).__name__} {_shown(value)}"
    return ""


def _conforms(value: object, hint: Any) -> bool:
    """Whether a decoded value is of the annotated type (str, int, float, bytes, bool, None,
    dict[str, Any], unions of these)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)
