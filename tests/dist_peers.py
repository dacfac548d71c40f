"""Hostile peers for distributed-mode tests: rogue workers, a fake master, a byte-injecting proxy.

All on 127.0.0.1, with plain (non-gevent) pyzmq in the test process, and every
wait bounded in time:

- `Rogue(port)`: a DEALER that holds the token's CURVE client keys and sends
  whatever a test wants (`send_raw`, `send`), and collects what comes back.
- `FakeMaster()`: a CURVE ROUTER with the token's server keys, for a real
  worker process to join (it then sends what a test wants, e.g. a crafted bundle).
- `Proxy(target_port)`: a TCP relay between a ZeroMQ peer and its other end that
  can `inject` raw bytes into either direction at a frame boundary, and tells
  when either end closed its connection (`closed_by_server`, `closed_by_client`).
- `Spawned`: a yamlswarm process whose stderr lines are read as they come.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from yamlswarm.distributed import auth
from yamlswarm.distributed import messages as m

TOKEN = "hostile-test-token"
ZMTP_LONG_FRAME = 0x02  # flags of a ZMTP frame whose size is 8 bytes


def env(token: str | None = TOKEN, **extra: str) -> dict[str, str]:
    values = dict(os.environ)
    values.pop("YAMLSWARM_TOKEN", None)
    if token is not None:
        values["YAMLSWARM_TOKEN"] = token
    return {**values, **extra}


def frame_header(size: int) -> bytes:
    """The header of a ZMTP frame announcing `size` bytes."""
    return bytes([ZMTP_LONG_FRAME]) + size.to_bytes(8, "big")


class Spawned:
    """`python -m yamlswarm ARGS`, its stderr read line by line in a thread."""

    def __init__(self, *args: str, cwd: Path | None = None, environ: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "yamlswarm", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=environ if environ is not None else env(),
        )
        self.lines: list[str] = []
        self._out: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self._out), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def err(self) -> str:
        return "\n".join(self.lines)

    @property
    def out(self) -> str:
        return "\n".join(self._out)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """The first stderr line for which `predicate` holds (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not self._readers[0].is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no such line within {timeout}s:\n{self.err}")

    def finish(self, timeout: float = 30) -> int:
        """Wait for the exit (killing it after `timeout`, which fails the test); the exit code."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._join()
            raise AssertionError(f"did not finish in {timeout}s\n{self.out}\n{self.err}") from None
        self._join()
        return self.proc.returncode

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._join()


class Rogue:
    """A DEALER speaking to the master with the right token but saying what a test wants."""

    def __init__(self, context: zmq.Context, port: int, identity: bytes, token: str = TOKEN):
        self.socket = context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.identity = identity
        self.socket.curve_publickey, self.socket.curve_secretkey = auth.client_keys(token)
        self.socket.curve_serverkey = auth.server_keys(token)[0]
        self.socket.connect(f"tcp://127.0.0.1:{port}")

    def send_raw(self, *frames: bytes) -> None:
        self.socket.send_multipart(list(frames))

    def send(self, message: m.Message) -> None:
        self.socket.send(m.encode(message))

    def receive(self, timeout: float = 5.0) -> m.Message | None:
        """The next message, or None when nothing came within `timeout`."""
        if not self.socket.poll(int(timeout * 1000)):
            return None
        return m.decode(self.socket.recv())

    def expect(self, kind: type[m.Message], timeout: float = 20.0) -> Any:
        """The next message that is not a heartbeat; AssertionError unless it is a `kind`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if not isinstance(message, m.Heartbeat):
                assert isinstance(message, kind), f"expected a {kind.__name__}, got {message}"
                return message
        raise AssertionError(f"no {kind.__name__} within {timeout}s")

    def drain(self, quiet: float = 1.0, limit: int = 1000) -> list[m.Message]:
        """Every message until none came for `quiet` seconds (at most `limit`)."""
        got: list[m.Message] = []
        while len(got) < limit and (message := self.receive(quiet)) is not None:
            got.append(message)
        return got

    def close(self) -> None:
        self.socket.close(linger=0)


class FakeMaster:
    """A ROUTER with the token's CURVE server keys: a real worker joins it."""

    def __init__(self, context: zmq.Context, token: str = TOKEN):
        self.socket = context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.curve_server = True
        self.socket.curve_publickey, self.socket.curve_secretkey = auth.server_keys(token)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")

    def receive(self, timeout: float = 20.0) -> tuple[bytes, m.Message]:
        if not self.socket.poll(int(timeout * 1000)):
            raise AssertionError(f"the fake master received nothing within {timeout}s")
        identity, frame = self.socket.recv_multipart()
        return identity, m.decode(frame)

    def send(self, identity: bytes, message: m.Message) -> None:
        self.socket.send_multipart([identity, m.encode(message)])

    def close(self) -> None:
        self.socket.close(linger=0)


class Proxy:
    """A TCP relay for one connection at a time, which can inject raw bytes."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.client: socket.socket | None = None  # the peer that connected to the proxy
        self.server: socket.socket | None = None  # the proxy's connection to the target
        self.closed_by_server = threading.Event()
        self.closed_by_client = threading.Event()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            if self.client is not None:  # a reconnection after the injection: refuse it
                client.close()
                continue
            server = self._connect()
            if server is None:
                client.close()
                continue
            self.client, self.server = client, server
            for source, sink, closed in (
                (client, server, self.closed_by_client),
                (server, client, self.closed_by_server),
            ):
                thread = threading.Thread(
                    target=self._pump, args=(source, sink, closed), daemon=True
                )
                thread.start()
                self._threads.append(thread)
            self.connected.set()

    def _connect(self, timeout: float = 15.0) -> socket.socket | None:
        """A connection to the target, which may still be starting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                return socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                time.sleep(0.1)
        return None

    def _pump(self, source: socket.socket, sink: socket.socket, closed: threading.Event) -> None:
        source.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.set()
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def inject(self, towards: str, data: bytes) -> None:
        """Send `data` to "server" (the target) or "client" as if the other end had sent it."""
        sink = self.server if towards == "server" else self.client
        assert sink is not None, "nothing connected yet"
        try:
            sink.sendall(data)
        except OSError:
            pass  # the other end may already have dropped the connection

    def close(self) -> None:
        self._stop.set()
        for sock in (self.client, self.server, self._listener):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass


def welcome_for(
    bundle: bytes, bundle_hash: str, scenario: str = "s.yaml", **extra: Any
) -> m.Welcome:
    return m.Welcome("w1", bundle, bundle_hash, scenario, {}, 0.5, 5.0, **extra)
