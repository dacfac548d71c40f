"""The master's peers: one state per worker, the messages each state may send, peers silenced.

A worker goes `joined` (hello answered with the bundle) -> `ready` (compiled
it) -> `running` (given its share) -> `done`; or ends `refused` or `lost`.
`EXPECTED` says in which states the master takes each message; anything else —
a frame that does not decode, a message only a master sends, a second hello,
a report before the start — is a protocol error: the master drops that peer
(says so once, answers Refused) and `Peers.accept` ignores it from then on.
Late messages of a refused or lost worker are ignored without a word.
"""

from __future__ import annotations

from dataclasses import dataclass

from yamlswarm.distributed import messages as m
from yamlswarm.report.terminal import one_line

__all__ = ["EXPECTED", "Peers", "WorkerState", "describe_identity"]

# message type -> the states of its sender in which the master takes it (None: a new peer)
EXPECTED: dict[type[m.Message], frozenset[str | None]] = {
    m.Hello: frozenset({None}),
    m.Ready: frozenset({"joined"}),
    m.Report: frozenset({"running"}),
    m.Heartbeat: frozenset({"joined", "ready", "running", "done"}),
    m.Done: frozenset({"running"}),
    m.Failed: frozenset({"joined"}),
}
SETTLED = frozenset({"refused", "lost"})  # what such a worker still sends is ignored
MAX_SILENCED = 4096  # peers that never joined, remembered so that each is said once
_STATES = {
    None: "it never said hello",
    "joined": "it has not compiled the bundle yet",
    "ready": "its share has not started",
    "running": "it is running",
    "done": "it is done",
}


@dataclass
class WorkerState:
    """What the master knows of one worker."""

    identity: bytes
    worker_id: str
    name: str
    last_seen: float
    state: str = "joined"  # joined -> ready -> running -> done | refused | lost
    users: int = 0
    index: int = -1
    lost_reason: str = ""
    silenced: bool = False  # dropped after it was done: its numbers stay, its messages do not


def describe_identity(identity: bytes) -> str:
    """A peer's ZeroMQ identity, as shown in a message (it is the peer's choice)."""
    return one_line(identity[:64].decode("utf-8", errors="replace")) or "?"


class Peers:
    """The workers by ZeroMQ identity, and the peers whose messages are ignored."""

    def __init__(self) -> None:
        self.workers: dict[bytes, WorkerState] = {}
        self._silenced: set[bytes] = set()

    def accept(self, identity: bytes, frames: list[bytes]) -> tuple[WorkerState | None, m.Message]:
        """The sender and the message to handle; ProtocolError when the peer must be dropped.

        Raises `Ignored` for a peer already silenced.
        """
        worker = self.workers.get(identity)
        if identity in self._silenced or (
            worker is not None and (worker.silenced or worker.state in SETTLED)
        ):
            raise Ignored
        if len(frames) != 1:
            raise m.ProtocolError(f"a message of {len(frames)} frames (expected 1)")
        message = m.decode(frames[0])
        expected = EXPECTED.get(type(message))
        if expected is None:
            raise m.ProtocolError(f"a {message.TYPE!r} message, which only a master sends")
        state = worker.state if worker is not None else None
        if state not in expected:
            second = " a second" if isinstance(message, m.Hello) else "n unexpected"
            raise m.ProtocolError(f"a{second} {message.TYPE!r} message ({_STATES[state]})")
        return worker, message

    def silence(self, identity: bytes) -> bool:
        """Ignore this peer from now on; False if it already was (so it is said once)."""
        worker = self.workers.get(identity)
        if worker is not None:
            already = worker.silenced or worker.state in SETTLED
            worker.silenced = True
            return not already
        if identity in self._silenced:
            return False
        if len(self._silenced) < MAX_SILENCED:
            self._silenced.add(identity)
        return True

    def count(self, *states: str) -> int:
        return sum(1 for w in self.workers.values() if w.state in states)


class Ignored(Exception):
    """A message of a peer that was dropped or refused: not handled, not said again."""
