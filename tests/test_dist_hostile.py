"""A master and workers that survive hostile peers: real processes, real ZeroMQ on 127.0.0.1.

Rogue peers hold the token (so they get past CURVE) and then break the
protocol: junk frames, unknown versions and types, messages out of order, a
flood of hellos, a report that cannot be merged, a frame of 800 MB. Each is
said once and dropped; the run goes on with the real workers.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
from servers import CountingServer, free_port

from tests.dist_peers import (
    TOKEN,
    FakeMaster,
    Proxy,
    Rogue,
    Spawned,
    env,
    frame_header,
    welcome_for,
)
from yamlswarm.distributed import messages as m
from yamlswarm.runtime.stats import Stats

ITERATIONS = """\
version: 1
name: dist
load: {iterations: 37, users: 4}
users:
  - flows:
      - steps:
          - get: /hit
thresholds:
  - "requests == 37"
"""
STEADY = """\
version: 1
name: steady
load: {users: 2, spawn_rate: 100, duration: 4s}
users:
  - wait: {constant: 50ms}
    flows:
      - steps:
          - get: /steady
"""
VERSION = __import__("yamlswarm").__version__


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with CountingServer() as srv:
        yield srv


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _master(scenario: Path, port: int, *args: str, token: str | None = TOKEN) -> Spawned:
    return Spawned(
        "master", str(scenario), "--bind", f"127.0.0.1:{port}", "-q", *args, environ=env(token)
    )


def _worker(port: int, cwd: Path, *args: str, token: str | None = TOKEN) -> Spawned:
    return Spawned("worker", "--master", f"127.0.0.1:{port}", *args, cwd=cwd, environ=env(token))


def _replies(rogue: Rogue, quiet: float = 0.5) -> list[m.Message]:
    """What the master answered: the first reply (the master may still be starting), then
    everything until it has been quiet for `quiet` seconds."""
    first = rogue.receive(20)
    return [] if first is None else [first, *rogue.drain(quiet=quiet)]


# frames that are not a message the master takes, each from a peer of its own
JUNK = {
    b"not-msgpack": [b"\xc1"],
    b"not-a-list": [msgpack.packb({"a": 1})],
    b"protocol-99": [msgpack.packb([99, "hello", {"name": "x", "version": VERSION}])],
    b"unknown-type": [msgpack.packb([m.PROTOCOL, "teleport", {}])],
    b"master-only": [m.encode(m.Quit("bye"))],
    b"report-first": [m.encode(m.Report(Stats().export(), 1, 0.0))],
    b"bad-field": [msgpack.packb([m.PROTOCOL, "heartbeat", {"users": "many"}])],
    b"two-frames": [m.encode(m.Heartbeat(1)), b"extra"],
}


def test_junk_unknown_and_out_of_order_messages_drop_only_their_peer(
    tmp_path: Path, server: CountingServer, empty: Path, context: zmq.Context
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS), port, "--expect-workers", "1", "-H", server.url
    )
    try:
        rogues = {identity: Rogue(context, port, identity) for identity in JUNK}
        for identity, frames in JUNK.items():
            rogues[identity].send_raw(*frames)
        # a joined worker whose Ready is malformed (today's receive loop died on it)
        late = Rogue(context, port, b"bad-ready")
        late.send(m.Hello("bad-ready", VERSION))
        late.expect(m.Welcome)
        late.send_raw(msgpack.packb([m.PROTOCOL, "ready", {"bundle_hash": 5}]))
        replies = {identity: _replies(rogue) for identity, rogue in rogues.items()}
        worker = _worker(port, empty)
        code = master.finish()
    finally:
        master.kill()
    assert code == 0, master.out + master.err
    assert worker.finish() == 0
    assert server.count("/hit") == 37
    for identity, got in replies.items():  # each refused once, with a reason
        assert [type(r) for r in got] == [m.Refused], (identity, got)
    assert "protocol version 99 (this side speaks 1); install the same yamlswarm" in master.err
    assert "unknown message type 'teleport'" in master.err
    assert "a 'quit' message, which only a master sends" in master.err
    assert "an unexpected 'report' message (it never said hello)" in master.err
    assert "bad 'heartbeat' message: users is str 'many'" in master.err
    assert "a message of 2 frames (expected 1)" in master.err
    assert "bad 'ready' message: bundle_hash is int 5" in master.err
    dropped = [line for line in master.lines if line.startswith("dropped ")]
    assert len(dropped) == len(JUNK) + 1  # said once per peer
    assert "Traceback" not in master.err


def test_a_hello_flood_gets_one_bundle_and_is_dropped(
    tmp_path: Path, server: CountingServer, context: zmq.Context
) -> None:
    scenario = _scenario(tmp_path, ITERATIONS)
    (scenario.parent / "ballast.csv").write_bytes(b"x\n" * 100_000)  # a 200 kB bundle
    scenario.write_text(
        ITERATIONS.replace("name: dist\n", "name: dist\ndata: {b: {csv: ballast.csv}}\n")
    )
    port = free_port()
    master = _master(
        scenario, port, "--expect-workers", "1", "-H", server.url, "--expect-timeout", "6"
    )
    try:
        flood = Rogue(context, port, b"flood")
        for _ in range(400):
            flood.send(m.Hello("flood", VERSION))
        got = _replies(flood, quiet=2.0)
    finally:
        code = master.finish()
    assert [type(r) for r in got] == [m.Welcome, m.Refused], [type(r) for r in got]
    assert "a second 'hello' message" in master.err
    assert code == 3 and "only 0 of 1 worker(s) arrived" in master.err


def test_too_many_workers_joining_at_once_are_refused(
    tmp_path: Path, server: CountingServer, context: zmq.Context
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS),
        port,
        "--expect-workers",
        "1",
        "-H",
        server.url,
        "--expect-timeout",
        "5",
    )
    try:
        replies = []
        for n in range(18):
            rogue = Rogue(context, port, f"joiner-{n}".encode())
            rogue.send(m.Hello("joiner", VERSION))
            replies.append(type(rogue.receive(10)))
    finally:
        code = master.finish()
    assert replies == [m.Welcome] * 17 + [m.Refused]  # --expect-workers 1 + 16 may join at once
    assert code == 3
    assert master.err.count("too many workers are joining at once") == 1


def _bad_histogram_export() -> dict:
    """A report that passes every type check but whose histogram does not decode."""
    stats = Stats()
    stats.row("/x", "GET").success(0.01)
    data = stats.export()
    data["rows"][0]["lat"]["hist"] = b"junk"
    return data


@pytest.mark.parametrize(
    "stats",
    [
        pytest.param(_bad_histogram_export(), id="histogram-junk"),
        pytest.param({"version": 1, "rows": "many"}, id="rows-not-a-list"),
    ],
)
def test_a_running_worker_that_sends_a_bad_report_is_lost_and_the_run_goes_on(
    tmp_path: Path, server: CountingServer, empty: Path, context: zmq.Context, stats: dict
) -> None:
    port = free_port()
    result = tmp_path / "result.json"
    master = _master(
        _scenario(tmp_path, STEADY),
        port,
        "--expect-workers",
        "2",
        "-H",
        server.url,
        "--json",
        str(result),
    )
    try:
        rogue = Rogue(context, port, b"rogue-worker")
        rogue.send(m.Hello("rogue", VERSION))
        welcome = rogue.expect(m.Welcome)
        rogue.send(m.Ready(welcome.bundle_hash))
        worker = _worker(port, empty)
        rogue.expect(m.Start)
        rogue.send(m.Report(stats, 1, 0.0))
        refused = rogue.expect(m.Refused)
        code = master.finish()
    finally:
        master.kill()
    assert code == 0, master.out + master.err
    assert worker.finish() == 0
    assert refused.reason.startswith("it sent ")
    assert re.search(r"worker w1 lost \(dropped: it sent .+\); the run goes on with 1", master.err)
    assert "lost workers: w1 (dropped: it sent" in master.out
    assert server.count("/steady") > 10 and result.exists()


def test_an_800_mb_frame_is_refused_by_the_master_without_reading_it(
    tmp_path: Path, server: CountingServer, empty: Path, context: zmq.Context
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS), port, "--expect-workers", "1", "-H", server.url
    )
    proxy = Proxy(port)
    try:
        rogue = Rogue(context, proxy.port, b"big-frame")
        rogue.send(m.Hello("big", VERSION))
        rogue.expect(m.Welcome)  # the CURVE handshake is done
        proxy.inject("server", frame_header(800 * 1024 * 1024) + b"\0" * 65536)
        assert proxy.closed_by_server.wait(5), "the master kept reading an 800 MB frame"
        worker = _worker(port, empty)
        code = master.finish()
    finally:
        proxy.close()
        master.kill()
    assert code == 0, master.out + master.err
    assert worker.finish() == 0 and server.count("/hit") == 37


def test_an_800_mb_frame_is_refused_by_a_worker(empty: Path, context: zmq.Context) -> None:
    fake = FakeMaster(context)
    proxy = Proxy(fake.port)
    worker = _worker(proxy.port, empty, "--connect-timeout", "5")
    try:
        _, hello = fake.receive()
        assert isinstance(hello, m.Hello)  # the handshake is done
        proxy.inject("client", frame_header(800 * 1024 * 1024) + b"\0" * 65536)
        assert proxy.closed_by_client.wait(3), "the worker kept reading an 800 MB frame"
        assert worker.finish() == 3
        assert "dropped the connection before it sent the bundle" in worker.err
    finally:
        proxy.close()
        fake.close()
        worker.kill()
    assert "Traceback" not in worker.err


def test_the_message_size_limit_is_configurable(empty: Path, context: zmq.Context) -> None:
    fake = FakeMaster(context)
    worker = _worker(fake.port, empty, "--connect-timeout", "3")  # the default limit
    small = Spawned(
        "worker",
        "--master",
        f"127.0.0.1:{fake.port}",
        "--connect-timeout",
        "3",
        cwd=empty,
        environ=env(YAMLSWARM_MAX_MESSAGE_SIZE="64K"),
    )
    try:
        bundle = _zip({"s.yaml": b"#" * 200_000})
        for _ in range(2):
            identity, _ = fake.receive()
            fake.send(identity, welcome_for(bundle, hashlib.sha256(bundle).hexdigest()))
        _, failed = fake.receive()  # the default limit took the bundle, which does not compile
        assert isinstance(failed, m.Failed)
        assert small.finish() == 3
        dropped = "dropped the connection before it sent the bundle (a message over the 64.0 KiB"
        assert dropped in small.err
    finally:
        fake.close()
        worker.kill()
        small.kill()
    bad = Spawned("worker", "--master", "127.0.0.1:1", environ=env(YAMLSWARM_MAX_MESSAGE_SIZE="x"))
    assert bad.finish() == 2 and "YAMLSWARM_MAX_MESSAGE_SIZE: 'x' is not a size" in bad.err


def _zip(files: dict[str, bytes], **info: object) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name)
            for key, value in info.items():
                setattr(entry, key, value)
            archive.writestr(entry, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bundle, scenario, text",
    [
        (_zip({"../evil.py": b"x", "s.yaml": b""}), "s.yaml", "an unsafe path: '../evil.py'"),
        (
            _zip({"s.yaml": b"/etc/passwd"}, external_attr=0o120777 << 16),
            "s.yaml",
            "a symbolic link: 's.yaml'",
        ),
        (
            _zip({"s.yaml": b"version: 1\n"}),
            "/etc/passwd",
            "the bundle holds no file '/etc/passwd'",
        ),
    ],
    ids=["dot-dot", "symlink", "scenario-outside"],
)
def test_a_worker_refuses_a_crafted_bundle_with_a_clear_message(
    tmp_path: Path, empty: Path, context: zmq.Context, bundle: bytes, scenario: str, text: str
) -> None:
    fake = FakeMaster(context)
    worker = _worker(fake.port, empty, "--connect-timeout", "10")
    try:
        identity, hello = fake.receive()
        assert isinstance(hello, m.Hello)
        fake.send(identity, welcome_for(bundle, hashlib.sha256(bundle).hexdigest(), scenario))
        _, failed = fake.receive()
        code = worker.finish()
    finally:
        fake.close()
        worker.kill()
    assert isinstance(failed, m.Failed) and text in failed.error
    assert code == 3, worker.err
    assert "error: the master sent a bundle this worker will not unpack: " in worker.err
    assert text in worker.err
    assert "Traceback" not in worker.err
    assert list(empty.iterdir()) == [] and not (tmp_path / "evil.py").exists()


def test_a_master_without_token_makes_one_up_and_says_how_to_join(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS), port, "--expect-workers", "1", "-H", server.url, token=None
    )
    try:
        line = master.wait_for(lambda text: "yamlswarm worker --master" in text)
        match = re.fullmatch(
            rf"  YAMLSWARM_TOKEN=(\S+) yamlswarm worker --master 127\.0\.0\.1:{port}", line
        )
        assert match, line
        stranger = _worker(port, empty, "--connect-timeout", "10", token=None)
        assert stranger.finish() == 3
        assert "this worker has no token" in stranger.err
        wrong = _worker(port, empty, "--connect-timeout", "10", token="guess")
        assert wrong.finish() == 3 and "wrong --token?" in wrong.err
        worker = _worker(port, empty, token=match.group(1))
        code = master.finish()
    finally:
        master.kill()
    assert code == 0, master.out + master.err
    assert worker.finish() == 0 and server.count("/hit") == 37
    assert "no --token given: workers need this run's token" in master.err
    assert "(token required)" in master.err
    assert "wrong or missing token" in master.err


@pytest.mark.parametrize(
    "options, text",
    [
        (["--heartbeat", "0"], "'0' is not a finite duration above 0"),
        (["--heartbeat", "nan"], "'nan' is not a finite number"),
        (["--heartbeat-timeout", "inf"], "'inf' is not a finite number"),
        (["--heartbeat", "1ms"], "--heartbeat must be between 0.05s and 3600s, not 0.001s"),
        (
            ["--heartbeat", "2s", "--heartbeat-timeout", "1s"],
            "--heartbeat-timeout (1s) must be longer than --heartbeat (2s)",
        ),
        (["--expect-timeout", "nan"], "'--expect-timeout': 'nan' is not a finite number"),
        (["--expect-timeout", "0"], "--expect-timeout must be a duration above 0s"),
    ],
)
def test_heartbeats_and_timeouts_must_be_finite_and_positive(
    tmp_path: Path, options: list[str], text: str
) -> None:
    master = _master(
        _scenario(tmp_path, ITERATIONS),
        free_port(),
        "--expect-workers",
        "1",
        "--expect-timeout",
        "3",
        *options,
    )
    code = master.finish(timeout=20)
    assert code == 2, master.err
    assert text in master.err and "Traceback" not in master.err


def test_a_worker_does_not_send_what_the_master_would_refuse() -> None:
    from yamlswarm.distributed.worker import Worker

    sent: list[bytes] = []
    worker = Worker(
        "127.0.0.1:1", token=TOKEN, max_message=64 * 1024, out=io.StringIO(), err=io.StringIO()
    )
    try:
        worker.socket = type("Socket", (), {"send": lambda self, frame: sent.append(frame)})()
        worker.send(m.Heartbeat(1))
        worker.send(m.Failed("x" * 100_000))
    finally:
        worker.context.destroy(linger=0)
    assert len(sent) == 1  # the heartbeat only
    assert worker.refused == (
        "a 'failed' message of 97.7 KiB is over the 64.0 KiB the master takes in "
        "(YAMLSWARM_MAX_MESSAGE_SIZE)"
    )
