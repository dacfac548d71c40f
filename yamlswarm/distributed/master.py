"""The master of a distributed run: handshake, shares, heartbeats, lost workers.

One ROUTER socket; one greenlet receives and dispatches through a handler
table, one sends heartbeats and notices silent workers. When the load starts
the master makes a `ClusterReport` (reporting.py), which merges what the
workers report, ticks once a second (timeline, live progress, aborting
thresholds) and prints and writes the result; it never imports the master.
The caller has monkey-patched gevent (the entry point does it first).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import gevent
import zmq.green as zmq
from gevent.event import Event

import yamlswarm
from yamlswarm import plan as p
from yamlswarm.distributed import auth, limits
from yamlswarm.distributed import messages as m
from yamlswarm.distributed.bundle import Bundle, make_bundle
from yamlswarm.distributed.peers import Ignored, Peers, WorkerState, describe_identity
from yamlswarm.distributed.reporting import ClusterReport, WorkerOutcome
from yamlswarm.distributed.split import settings_to_wire
from yamlswarm.errors import ClusterError, UsageError
from yamlswarm.report.terminal import one_line, printable
from yamlswarm.run import make_steering
from yamlswarm.settings import RunSettings

DEFAULT_BIND = "127.0.0.1:5557"
EXTRA_JOINING = 16  # workers beyond --expect-workers that may be handshaking at once

__all__ = ["DEFAULT_BIND", "Master", "WorkerState", "run_master"]


class Master:
    """Coordinates one distributed run of `plan` (see `run_master`)."""

    def __init__(
        self,
        plan: p.Plan,
        settings: RunSettings,
        bundle: Bundle,
        *,
        expect_workers: int,
        token: str | None,
        expect_timeout: float = 60.0,
        heartbeat: float = 1.0,
        heartbeat_timeout: float = 10.0,
        out: TextIO,
        err: TextIO,
        quiet_joins: bool = False,
        max_message: int | None = None,
    ) -> None:
        problem = m.heartbeat_problem(heartbeat, heartbeat_timeout)
        if problem:
            raise UsageError(problem)
        self.max_message = limits.max_message_bytes(max_message)
        limits.check_bundle_fits(len(bundle.data), self.max_message)
        self.plan = plan
        self.settings = settings
        self.bundle = bundle
        self.expect_workers = expect_workers
        self.token = token
        self.expect_timeout = expect_timeout
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout
        self.out = out
        self.err = err
        self.quiet_joins = quiet_joins
        self.context = zmq.Context()
        self.socket: Any = None
        self.peers = Peers()
        self.workers = self.peers.workers  # by ZeroMQ identity
        self.report: ClusterReport | None = None  # set when the load starts
        self._ready = Event()
        self._finished = Event()
        self._failure: str | None = None
        self._last_refusal = -1e9
        self._greenlets: list[gevent.Greenlet] = []
        self._handlers: dict[type[m.Message], Callable[[Any, bytes, Any], None]] = {
            m.Hello: self._on_hello,
            m.Ready: self._on_ready,
            m.Report: self._on_report,
            m.Heartbeat: self._on_heartbeat,
            m.Done: self._on_done,
            m.Failed: self._on_failed,
        }

    # ------------------------------------------------------------------ sockets

    def bind(self, host: str, port: int) -> int:
        """Listen on host:port (port 0: any free port); returns the port."""
        auth.check_bind(host, self.token)
        sock = self.context.socket(zmq.ROUTER)
        sock.linger = 0
        sock.ipv6 = ":" in host
        sock.maxmsgsize = self.max_message  # a larger frame drops its connection, unread
        if self.token is not None:
            self._greenlets.append(auth.start_zap(self.context, self.token, self._refused_auth))
            public, secret = auth.server_keys(self.token)
            sock.curve_server = True
            sock.curve_publickey, sock.curve_secretkey = public, secret
            sock.zap_domain = auth.ZAP_DOMAIN
            monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            )
            self._greenlets.append(gevent.spawn(self._watch_handshakes, monitor))
        try:
            if port == 0:
                port = sock.bind_to_random_port(auth.endpoint(host, "").rstrip(":"))
            else:
                sock.bind(auth.endpoint(host, port))
        except zmq.ZMQError as exc:
            sock.close()
            raise ClusterError(f"cannot listen on {host}:{port}: {exc}") from None
        self.socket = sock
        return port

    def send(self, worker: WorkerState | bytes, message: m.Message) -> None:
        identity = worker if isinstance(worker, bytes) else worker.identity
        try:
            self.socket.send_multipart([identity, m.encode(message)], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # a peer that is gone or not keeping up: the heartbeat check notices

    def close(self) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self.socket is not None:
            self.socket.close(linger=500)
        self.context.destroy(linger=500)

    def _say(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def _refused_auth(self, address: str = "") -> None:
        now = time.monotonic()
        if now - self._last_refusal >= 5.0:  # a refused peer retries: say it now and then
            self._last_refusal = now
            self._say(
                f"refused a connection{f' from {address}' if address else ''}: "
                f"the handshake failed (wrong or missing token)"
            )

    def _watch_handshakes(self, monitor: Any) -> None:
        from zmq.utils.monitor import recv_monitor_message

        failed = {
            zmq.EVENT_HANDSHAKE_FAILED_AUTH,
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        }
        while True:
            if recv_monitor_message(monitor)["event"] in failed:
                self._refused_auth()

    # ------------------------------------------------------------------ receiving

    def _receive_loop(self) -> None:
        while True:
            identity, *frames = self.socket.recv_multipart()
            try:
                self._receive(identity, frames)
            except Exception as exc:  # the last line of defence: no peer stops the master
                self._drop(identity, f"a message the master could not handle ({exc!r:.200})")

    def _receive(self, identity: bytes, frames: list[bytes]) -> None:
        try:
            worker, message = self.peers.accept(identity, frames)
            if worker is not None:
                worker.last_seen = time.monotonic()
            self._handlers[type(message)](worker, identity, message)
        except Ignored:
            pass
        except m.ProtocolError as exc:
            self._drop(identity, str(exc))

    def _drop(self, identity: bytes, reason: str) -> None:
        """A peer broke the protocol: say so once, refuse it, go on with the others."""
        if not self.peers.silence(identity):
            return
        reason = one_line(reason)
        self.send(identity, m.Refused(f"it sent {reason}"))
        worker = self.workers.get(identity)
        if worker is not None and worker.state == "running":
            self._lose(worker, f"dropped: it sent {reason}")
            return
        if worker is not None:
            if worker.state in ("joined", "ready"):
                worker.state = "refused"
            who = f"worker {worker.worker_id} ({one_line(worker.name)})"
        else:
            who = f"a peer ({describe_identity(identity)})"
        self._say(f"dropped {who}: it sent {reason}")

    def _refuse(self, identity: bytes, name: str, reason: str) -> None:
        """Refuse a worker at its hello, once; what it sends next is ignored."""
        if self.peers.silence(identity):
            self._say(f"refused worker {one_line(name)}: {reason}")
            self.send(identity, m.Refused(reason))

    def _on_hello(self, worker: WorkerState | None, identity: bytes, msg: m.Hello) -> None:
        refusal = self._refusal(msg)
        if refusal:
            self._refuse(identity, msg.name, refusal)
            return
        worker = WorkerState(identity, f"w{len(self.workers) + 1}", msg.name, time.monotonic())
        self.workers[identity] = worker
        if not self.quiet_joins:
            self._say(f"worker {worker.worker_id} joined ({one_line(msg.name)})")
        self.send(
            worker,
            m.Welcome(
                worker.worker_id,
                self.bundle.data,
                self.bundle.sha256,
                self.bundle.scenario,
                settings_to_wire(self.settings),
                self.heartbeat,
                self.heartbeat_timeout,
            ),
        )

    def _refusal(self, msg: m.Hello) -> str:
        if msg.version != yamlswarm.__version__ or msg.protocol != m.PROTOCOL:
            return (
                f"the worker runs yamlswarm {one_line(msg.version)} (protocol {msg.protocol}) "
                f"and the master {yamlswarm.__version__} (protocol {m.PROTOCOL});"
                f" install the same version everywhere"
            )
        if self.report is not None or self._count("ready") >= self.expect_workers:
            return f"this run already has its {self.expect_workers} worker(s)"
        if self._count("joined") >= self.expect_workers + EXTRA_JOINING:
            return "too many workers are joining at once"
        return ""

    def _on_ready(self, worker: WorkerState, identity: bytes, msg: m.Ready) -> None:
        if msg.bundle_hash != self.bundle.sha256:
            self._say(f"refused worker {worker.worker_id}: its bundle differs")
            self.send(
                worker,
                m.Refused(
                    f"the bundle this worker compiled ({one_line(msg.bundle_hash[:12])}) "
                    f"differs from the master's ({self.bundle.sha256[:12]})"
                ),
            )
            worker.state = "refused"
            return
        if self.report is not None or self._count("ready") >= self.expect_workers:
            self.send(
                worker, m.Refused(f"this run already has its {self.expect_workers} worker(s)")
            )
            worker.state = "refused"
            return
        worker.state = "ready"
        if self._count("ready") >= self.expect_workers:
            self._ready.set()

    def _on_report(self, worker: WorkerState, identity: bytes, msg: m.Report) -> None:
        assert self.report is not None  # a worker runs once the report exists
        self.report.merge(worker.worker_id, msg.stats)
        worker.users = msg.users

    def _on_heartbeat(self, worker: WorkerState, identity: bytes, msg: m.Heartbeat) -> None:
        if worker.state == "running":
            worker.users = msg.users

    def _on_done(self, worker: WorkerState, identity: bytes, msg: m.Done) -> None:
        assert self.report is not None
        self.report.merge(worker.worker_id, msg.stats)
        worker.state, worker.users = "done", 0
        self._check_finished()

    def _on_failed(self, worker: WorkerState, identity: bytes, msg: m.Failed) -> None:
        worker.state, worker.lost_reason = "lost", "failed"
        text = f"worker {worker.worker_id} could not run the scenario:\n{printable(msg.error)}"
        if self.report is not None:  # one that came too late to be part of the run
            self._say(text)
            return
        self._failure = text
        self._ready.set()

    # ------------------------------------------------------------------ housekeeping

    def _count(self, *states: str) -> int:
        return self.peers.count(*states)

    def _running(self) -> list[WorkerState]:
        return [w for w in self.workers.values() if w.state == "running"]

    def _heartbeat_loop(self) -> None:
        while True:
            gevent.sleep(self.heartbeat)
            now = time.monotonic()
            for worker in list(self.workers.values()):
                if worker.state not in ("joined", "ready", "running"):
                    continue
                if now - worker.last_seen > self.heartbeat_timeout:
                    self._lose(worker, f"no heartbeat for {self.heartbeat_timeout:g}s")
                else:
                    self.send(worker, m.Heartbeat(worker.users))

    def _lose(self, worker: WorkerState, reason: str) -> None:
        running = worker.state == "running"
        worker.state, worker.lost_reason, worker.users = "lost", reason, 0
        if running:
            left = len(self._running())
            self._say(
                f"worker {worker.worker_id} lost ({reason}); the run goes on with {left} worker(s)"
            )
            self._check_finished()

    def _check_finished(self) -> None:
        if self.report is not None and not self._running():
            self._finished.set()

    def fail(self, text: str) -> None:
        """Give up waiting for workers (a local worker process died)."""
        self._failure = text
        self._ready.set()

    def stop_all(self, reason: str) -> None:
        for worker in self._running():
            self.send(worker, m.Stop(reason))

    # ------------------------------------------------------------------ the run

    def wait_for_workers(self) -> list[WorkerState]:
        self._say(f"waiting for {self.expect_workers} worker(s) (up to {self.expect_timeout:g}s)")
        self._greenlets.append(gevent.spawn(self._receive_loop))
        self._greenlets.append(gevent.spawn(self._heartbeat_loop))
        self._ready.wait(self.expect_timeout)
        if self._failure:
            raise ClusterError(self._failure)
        ready = [w for w in self.workers.values() if w.state == "ready"]
        if len(ready) < self.expect_workers:
            for worker in self.workers.values():
                self.send(worker, m.Quit("too few workers"))
            gevent.sleep(0.1)
            raise ClusterError(
                f"only {len(ready)} of {self.expect_workers} worker(s) arrived "
                f"within {self.expect_timeout:g}s (--expect-workers "
                f"{self.expect_workers})"
            )
        return ready[: self.expect_workers]

    def run(self) -> int:
        """Wait for the workers, run the load, print and write the merged results; the exit code."""
        from yamlswarm.run import describe_load

        workers = self.wait_for_workers()
        steering = make_steering(self.plan, self.settings)  # --web: the master's web UI
        self.report = report = ClusterReport(
            self.plan, self.settings, out=self.out, err=self.err, steering=steering,
            workers=len(workers),
        )  # fmt: skip
        if steering is not None and not self._started_from_the_page(steering, report):
            return report.finish(self.outcomes())
        for index, worker in enumerate(workers):
            worker.state, worker.index = "running", index
            self.send(
                worker, m.Start(index, len(workers), self.settings.seed, steering is not None)
            )
        if steering is not None:
            self._web_control.relay()  # the targets set in the page, split across the workers
        report.test_start(self.stop_all)
        selection = self.settings.selection.describe()
        print(
            f"yamlswarm: running {self.plan.name!r}"
            f"{f' against {self.plan.host}' if self.plan.host else ''} "
            f"({describe_load(self.plan)}) on {len(workers)} worker(s)"
            + (f"\nselection: {selection}" if selection else ""),
            file=self.out,
            flush=True,
        )
        ticker = report.start_ticker(self._running_users, self.stop_all)
        handlers = _install_signals(self._interrupt)
        try:
            self._finished.wait()
        finally:
            for handler in handlers:
                handler.cancel()
            ticker.kill(block=True)
        for worker in self.workers.values():
            self.send(worker, m.Quit("run finished"))
        return report.finish(self.outcomes())

    def _started_from_the_page(self, steering: Any, report: ClusterReport) -> bool:
        """--web: wait for Start in the page (False: stopped before it); time counts from it."""
        from yamlswarm.distributed.steered import MasterControl

        self._web_control = control = MasterControl(self, steering)
        if not control.wait_for_start():
            for worker in self.workers.values():
                self.send(worker, m.Quit("stopped before the start"))
            return False
        report.started = control.started_at or time.perf_counter()
        return True

    def _running_users(self) -> int:
        return sum(w.users for w in self._running())

    def outcomes(self) -> list[WorkerOutcome]:
        """What became of each worker that was given a share."""
        return [
            WorkerOutcome(w.worker_id, w.name, w.lost_reason if w.state == "lost" else None)
            for w in self.workers.values()
            if w.index >= 0
        ]

    def _interrupt(self) -> None:
        assert self.report is not None
        if self.report.interrupted:
            self._finished.set()  # a second Ctrl-C: stop waiting for the workers
            return
        self.report.interrupted = True
        self._say("interrupted: stopping the workers (Ctrl-C again to stop waiting)")
        self.stop_all("interrupted")


def _install_signals(callback: Callable[[], None]) -> list[Any]:
    import signal

    handlers = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers.append(gevent.signal_handler(sig, callback))
        except (ValueError, OSError):
            pass
    return handlers


def run_master(
    scenario: Path,
    settings: RunSettings,
    *,
    expect_workers: int,
    bind: str = DEFAULT_BIND,
    token: str | None = None,
    expect_timeout: float = 60.0,
    heartbeat: float = 1.0,
    heartbeat_timeout: float = 10.0,
    max_message: int | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run SCENARIO on `expect_workers` workers; returns the exit code (raises YamlswarmError).

    Without a token the master binds loopback only and makes up a token for the
    run, printed with the command that starts a worker.
    """
    from yamlswarm.run import load_plan

    out, err = out or sys.stdout, err or sys.stderr
    token = auth.resolve_token(token)
    host, port = auth.parse_address(bind, option="--bind")
    auth.check_bind(host, token)
    problem = m.heartbeat_problem(
        heartbeat, heartbeat_timeout, ("--heartbeat", "--heartbeat-timeout")
    )
    if problem:
        raise UsageError(problem)
    generated = token is None
    token = token or auth.new_token()
    if expect_workers < 1:
        raise ClusterError("--expect-workers must be at least 1")
    limits.check_timeout(expect_timeout, "--expect-timeout")
    plan = load_plan(scenario, settings)
    master = Master(
        plan,
        settings,
        make_bundle(plan),
        expect_workers=expect_workers,
        token=token,
        expect_timeout=expect_timeout,
        heartbeat=heartbeat,
        heartbeat_timeout=heartbeat_timeout,
        max_message=max_message,
        out=out,
        err=err,
    )
    try:
        port = master.bind(host, port)
        print(f"yamlswarm master listening on {host}:{port} (token required)", file=err, flush=True)
        if generated:
            print(auth.join_hint(host, port, token), file=err, flush=True)
        return master.run()
    finally:
        master.close()
