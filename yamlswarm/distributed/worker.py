"""A worker: joins a master, unpacks and compiles its bundle, runs its share, reports every second.

One DEALER socket. A receive greenlet dispatches through a handler table;
control messages (welcome, refusal, start, quit) go to a queue the main flow
reads in order. A heartbeat greenlet sends heartbeats and stops the users
when the master has been silent for the heartbeat timeout.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import gevent
import zmq.green as zmq
from gevent.queue import Empty, Queue
from zmq.utils.monitor import recv_monitor_message

import yamlswarm
from yamlswarm.distributed import auth, limits
from yamlswarm.distributed import messages as m
from yamlswarm.errors import ClusterError, InternalError, Interrupted, YamlswarmError
from yamlswarm.report.terminal import one_line, printable

__all__ = ["Worker", "run_worker"]

# a wrong server key shows as "no detail", a missing or unwanted key as "protocol"
_AUTH_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
}
_LOST, _AUTH, _REFUSED = "master lost", "auth failed", "refused"
REPORT_INTERVAL = 1.0


class Worker:
    """One worker process's life: handshake, bundle, share, run, reports (see `run_worker`)."""

    def __init__(
        self,
        master: str,
        *,
        token: str | None,
        connect_timeout: float = 60.0,
        quiet: bool = False,
        max_message: int | None = None,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.address = master
        self.max_message = limits.max_message_bytes(max_message)
        self.host, self.port = auth.parse_address(master, option="--master")
        self.token = token
        self.connect_timeout = connect_timeout
        self.quiet = quiet
        self.out, self.err = out, err
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.context = zmq.Context()
        self.socket: Any = None
        self.control: Queue = Queue()
        self.heartbeat, self.heartbeat_timeout = 1.0, 10.0
        self.last_seen = time.monotonic()
        self.connected = False
        self.handshaken = False  # a CURVE (or NULL) handshake with the master succeeded
        self.dropped = False  # and the connection was dropped after it
        self.runner: Any = None
        self.master_lost = False
        self.refused: str | None = None  # why this worker stopped talking to the master
        self.directory: Path | None = None
        self._greenlets: list[gevent.Greenlet] = []
        self._handlers: dict[type[m.Message], Callable[[Any], None]] = {
            m.Welcome: self._to_control,
            m.Refused: self._on_refused,
            m.Start: self._to_control,
            m.Quit: self._on_quit,
            m.Stop: self._on_stop,
            m.Steer: self._on_steer,
            m.Heartbeat: lambda msg: None,
        }
        self.steering: Any = None  # a steered run's targets (the master's web UI)
        self._steer: m.Steer | None = None

    # ------------------------------------------------------------------ wire

    def connect(self) -> None:
        sock = self.context.socket(zmq.DEALER)
        sock.linger = 1000
        sock.ipv6 = ":" in self.host
        sock.maxmsgsize = self.max_message  # a larger frame drops the connection, unread
        sock.identity = f"{self.name}-{os.urandom(3).hex()}".encode()
        if self.token is not None:
            sock.curve_publickey, sock.curve_secretkey = auth.client_keys(self.token)
            sock.curve_serverkey = auth.server_keys(self.token)[0]
        monitor = sock.get_monitor_socket()
        sock.connect(auth.endpoint(self.host, self.port))
        self.socket = sock
        self._watcher = gevent.spawn(self._watch_handshake, monitor)
        self._greenlets.append(self._watcher)
        self._greenlets.append(gevent.spawn(self._receive_loop))

    def send(self, message: m.Message) -> None:
        frame = m.encode(message)
        if len(frame) > self.max_message:  # the master would drop the connection, unread
            self._give_up(
                f"a {message.TYPE!r} message of {limits.describe_size(len(frame))} is over "
                f"the {limits.describe_size(self.max_message)} the master takes in "
                f"({limits.MESSAGE_SIZE_ENV})"
            )
            return
        self.socket.send(frame)

    def _watch_handshake(self, monitor: Any) -> None:
        while True:
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_CONNECTED:
                self.connected = True
            elif event in _AUTH_FAILED:
                self.control.put(_AUTH)
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.handshaken = True
            elif event == zmq.EVENT_DISCONNECTED and self.handshaken:
                self.dropped = True  # e.g. a frame over MAXMSGSIZE: libzmq does not reconnect

    def _stop_watching(self) -> None:
        """The master answered: what happens to the connection now is the heartbeats' business."""
        self._watcher.kill(block=False)
        self.socket.disable_monitor()

    def _receive_loop(self) -> None:
        while True:
            frames = self.socket.recv_multipart()
            self.last_seen = time.monotonic()
            try:
                if len(frames) != 1:
                    raise m.ProtocolError(f"a message of {len(frames)} frames")
                message = m.decode(frames[0])
                handler = self._handlers.get(type(message))
                if handler is None:
                    raise m.ProtocolError(f"a {message.TYPE!r} message, which only a worker sends")
                handler(message)
            except m.ProtocolError as exc:
                self._give_up(f"the master at {self.address} sent {exc}")

    def _to_control(self, message: m.Message) -> None:
        self.control.put(message)

    def _on_refused(self, message: m.Refused) -> None:
        reason = printable(message.reason)
        self._give_up(f"the master at {self.address} refused this worker: {reason}")

    def _give_up(self, text: str) -> None:
        """Stop the users (if any) and end with `text` (said once)."""
        if self.refused is not None:
            return
        self.refused = text
        self.control.put(_REFUSED)
        if self.runner is not None:
            self.runner.stop(one_line(text))

    def _on_quit(self, message: m.Quit) -> None:
        self.control.put(message)
        if self.runner is not None:
            self.runner.stop(f"master asked: {message.reason}")

    def _on_stop(self, message: m.Stop) -> None:
        if self.runner is not None:
            self.runner.stop(f"master asked: {message.reason}")

    def _on_steer(self, message: m.Steer) -> None:
        self._steer = message  # one may come before the runner exists: applied when it does
        if self.steering is not None:
            self.steering.change(message.users, message.spawn_rate, message.rate)

    def _heartbeat_loop(self) -> None:
        while True:
            gevent.sleep(self.heartbeat)
            if time.monotonic() - self.last_seen > self.heartbeat_timeout:
                self.master_lost = True
                self.control.put(_LOST)
                if self.runner is not None:
                    self.runner.stop(_LOST)
                return
            users = self.runner.active_users if self.runner is not None else 0
            self.send(m.Heartbeat(users))

    def _next_control(self, timeout: float | None = None) -> Any:
        try:
            item = self.control.get(timeout=timeout)
        except Empty:
            return None
        if item == _AUTH:
            raise ClusterError(self._auth_text())
        if item == _LOST:
            raise ClusterError(self._lost_text())
        if item == _REFUSED:
            raise ClusterError(str(self.refused))
        return item

    def _auth_text(self) -> str:
        if self.token is None:
            return (
                f"could not authenticate with the master at {self.address}: this worker has "
                f"no token; pass the master's with --token or {auth.TOKEN_ENV} (a master "
                f"started without --token prints the one it made up)"
            )
        return f"could not authenticate with the master at {self.address} (wrong --token?)"

    def _lost_text(self) -> str:
        return (
            f"lost the master at {self.address} (no heartbeat for "
            f"{self.heartbeat_timeout:g}s); stopped the users"
        )

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"worker {self.name}: {text}", file=self.err, flush=True)

    # ------------------------------------------------------------------ phases

    def handshake(self) -> m.Welcome:
        self.send(
            m.Hello(self.name, yamlswarm.__version__, m.PROTOCOL, socket.gethostname(), os.getpid())
        )
        deadline = time.monotonic() + self.connect_timeout
        while True:
            item = self._next_control(max(0.0, deadline - time.monotonic()))
            if isinstance(item, m.Welcome):
                return item
            if item is None:
                raise ClusterError(self._timeout_text())
            if isinstance(item, m.Quit):
                raise ClusterError(f"the master at {self.address} ended the run before it started")

    def _timeout_text(self) -> str:
        if self.dropped:
            return (
                f"the master at {self.address} dropped the connection before it sent the "
                f"bundle (a message over the {limits.describe_size(self.max_message)} this "
                f"worker takes in, {limits.MESSAGE_SIZE_ENV}, is refused that way)"
            )
        if self.handshaken:
            return f"the master at {self.address} did not answer within {self.connect_timeout:g}s"
        if not self.connected:
            return (
                f"could not reach the master at {self.address} within "
                f"{self.connect_timeout:g}s (is it running?)"
            )
        if self.token is not None:
            return self._auth_text()
        return (
            f"the master at {self.address} did not answer within {self.connect_timeout:g}s "
            f"(does it need --token?)"
        )

    def load(self, welcome: m.Welcome) -> Any:
        """Unpack and compile the bundle; tell the master (Ready, or Failed and raise)."""
        from yamlswarm.distributed.bundle import BundleError, member, unpack
        from yamlswarm.distributed.split import settings_from_wire
        from yamlswarm.run import load_plan

        self._stop_watching()
        self.heartbeat, self.heartbeat_timeout = welcome.heartbeat, welcome.heartbeat_timeout
        self.last_seen = time.monotonic()
        self._greenlets.append(gevent.spawn(self._heartbeat_loop))
        settings = settings_from_wire(welcome.settings)
        try:
            try:
                self.directory = unpack(welcome.bundle, welcome.bundle_hash)
                scenario = member(self.directory, welcome.scenario)
            except BundleError as exc:
                text = f"the master sent a bundle this worker will not unpack: {exc}"
                raise ClusterError(text) from None
            plan = load_plan(scenario, settings)
        except YamlswarmError as exc:
            self.send(m.Failed(exc.render()))
            gevent.sleep(0.2)  # let the message leave before the process exits
            raise
        self.send(m.Ready(welcome.bundle_hash))
        self._say(f"joined the master at {self.address} as {welcome.worker_id}")
        return plan, settings

    def run_share(self, plan: Any, settings: Any, start: m.Start) -> int:
        from yamlswarm.distributed.split import split_plan
        from yamlswarm.runtime.stats import Stats

        share = split_plan(plan, settings, start.index, start.count)
        if share.idle:
            self.send(m.Done(Stats().export(), "nothing to do: more workers than work"))
            return 0
        from yamlswarm.hookmodules import load_hooks
        from yamlswarm.runtime.hook_calls import HookRunner, test_context
        from yamlswarm.runtime.runner import Runner

        hooks = HookRunner(load_hooks(share.plan.hooks) if share.plan.hooks else None, err=self.err)
        if start.steered:
            from yamlswarm.runtime.steering import Steering

            rate = share.settings.spawn_rate
            self.steering = Steering(share.plan.load, wait_for_start=False, spawn_rate=rate)
            if self._steer is not None:
                self._on_steer(self._steer)
        self.runner = runner = Runner(
            share.plan,
            share.settings,
            hooks=hooks,
            stats=Stats(),
            live=None,
            out=self.out,
            err=self.err,
            steering=self.steering,
            test_ctx=test_context(share.plan, share.settings, role="worker", workers=start.count),
        )
        self._say(f"running share {start.index + 1} of {start.count}")
        reporter = gevent.spawn(self._report_loop, runner)
        try:
            runner.run()
        finally:
            reporter.kill(block=True)
        self.send(
            m.Done(
                interval_export(runner.stats), runner.stop_reason or "finished", runner.interrupted
            )
        )
        if self.master_lost:
            raise ClusterError(self._lost_text())
        if self.refused is not None:
            raise ClusterError(self.refused)
        if runner.bug is not None:  # its results are sent; the traceback is for a bug report
            print(InternalError(runner.bug).render(), file=self.err, flush=True)
            return InternalError.exit_code
        code = Interrupted.exit_code if runner.interrupted else 0
        # the worker's own on_test_stop: no result here (the master merges it), its exit code
        return hooks.test_stop(runner.test_ctx, None, code) if hooks.on_test_stop else code

    def _report_loop(self, runner: Any) -> None:
        while True:
            gevent.sleep(REPORT_INTERVAL)
            self.send(m.Report(interval_export(runner.stats), runner.active_users, time.time()))

    def run(self) -> int:
        """The whole life of the worker; returns the exit code (raises YamlswarmError)."""
        try:
            self.connect()
            welcome = self.handshake()
            plan, settings = self.load(welcome)
            while True:
                item = self._next_control()
                if isinstance(item, m.Start):
                    break
                if isinstance(item, m.Quit):
                    self._say(f"the master ended the run: {item.reason}")
                    return 0
            code = self.run_share(plan, settings, item)
            self._wait_quit()
            return code
        finally:
            self.close()

    def _wait_quit(self) -> None:
        deadline = time.monotonic() + self.heartbeat_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if isinstance(self._next_control(left), m.Quit):
                    return
            except ClusterError:
                return  # the master went away after our Done: nothing left to lose

    def close(self) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self.socket is not None:
            self.socket.close(linger=1000)
        self.context.destroy(linger=1000)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def interval_export(stats: Any) -> dict[str, Any]:
    """Stats.export(reset=True) whose `second` is every request of the interval.

    The worker's own ticker closes its seconds on its own clock; the master
    builds the cluster timeline from what each report adds, so a report's
    `second` is the sum of the request rows since the previous report.
    """
    latency, _, failures = stats.aggregate()
    data = stats.export(reset=True)
    data["second"] = latency.export()
    data["second_failures"] = failures
    return data


def run_worker(
    master: str,
    *,
    processes: int = 1,
    token: str | None = None,
    connect_timeout: float = 60.0,
    quiet: bool = False,
    max_message: int | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Join the master at HOST:PORT and run its scenario; `processes` > 1 starts that many."""
    out, err = out or sys.stdout, err or sys.stderr
    token = auth.resolve_token(token)
    limits.check_timeout(connect_timeout, "--connect-timeout")
    max_message = limits.max_message_bytes(max_message)  # a usage error before any process starts
    if processes != 1:
        from yamlswarm.distributed.local import run_worker_processes

        return run_worker_processes(
            master, processes, token=token, connect_timeout=connect_timeout, quiet=quiet
        )
    worker = Worker(
        master,
        token=token,
        connect_timeout=connect_timeout,
        quiet=quiet,
        max_message=max_message,
        out=out,
        err=err,
    )
    return worker.run()
