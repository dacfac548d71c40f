"""Distributed protocol: every message round-trips through msgpack; stats merge exactly."""

from __future__ import annotations

import random
import re

import msgpack
import pytest

from yamlswarm.distributed import messages as m
from yamlswarm.runtime.stats import Stats

SAMPLES: list[m.Message] = [
    m.Hello("host-1", "0.1.0", m.PROTOCOL, "host", 1234),
    m.Welcome(
        "w1",
        b"PK\x03\x04zip-bytes",
        "ab" * 32,
        "dir/scenario.yaml",
        {"host": "http://127.0.0.1:1", "users": 3, "env": {"K": "V"}},
        0.5,
        3.0,
    ),
    m.Refused("the worker runs yamlswarm 9.9 and the master 0.1"),
    m.Ready("cd" * 32),
    m.Start(1, 3, 42),
    m.Start(0, 1, None),
    m.Start(0, 2, 7, True),
    m.Steer(3, 2.5, None),
    m.Steer(None, None, 40.0),
    m.Report({"version": 1, "rows": [], "nested": {"x": [1.5, b"\x00"]}}, 7, 1700000000.25),
    m.Heartbeat(12),
    m.Stop("threshold failed: p95 < 1ms"),
    m.Done({"version": 1}, "iterations done", False),
    m.Failed("scenario.yaml:3:1: something"),
    m.Quit("run finished"),
]


def test_every_message_type_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(m.MESSAGE_TYPES.values())


@pytest.mark.parametrize("message", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(message: m.Message) -> None:
    frame = m.encode(message)
    assert isinstance(frame, bytes)
    back = m.decode(frame)
    assert type(back) is type(message)
    assert back == message


def test_type_names_are_unique_and_lower_case() -> None:
    names = [cls.TYPE for cls in m.MESSAGE_TYPES.values()]
    assert len(names) == len(set(names))
    assert all(name and name == name.lower() for name in names)


@pytest.mark.parametrize(
    "frame, text",
    [
        (b"\xc1", "not a yamlswarm message"),
        (msgpack.packb({"a": 1}), "not a yamlswarm message"),
        (msgpack.packb([m.PROTOCOL + 1, "hello", {}]), f"this side speaks {m.PROTOCOL}"),
        (msgpack.packb([m.PROTOCOL, "teleport", {}]), "unknown message type 'teleport'"),
        (msgpack.packb([m.PROTOCOL, "ready", {"bundle_hash": "x", "extra": 1}]), "bad 'ready'"),
        (msgpack.packb([m.PROTOCOL, "stop", {}]), "bad 'stop'"),
    ],
)
def test_bad_frames_are_protocol_errors(frame: bytes, text: str) -> None:
    with pytest.raises(m.ProtocolError, match=text.replace("(", r"\(")):
        m.decode(frame)


def _record(stats: Stats, latencies: list[float], fail_every: int = 0) -> None:
    row = stats.row("/api", "GET")
    for n, seconds in enumerate(latencies):
        if fail_every and n % fail_every == 0:
            row.failure(seconds, "HTTP 500", example="boom")
        else:
            row.success(seconds)
        stats.iteration_done()


def test_histogram_merge_round_trip_is_exact() -> None:
    """Two workers' reports, through the wire, merge into exactly the numbers of one process."""
    rng = random.Random(7)
    part_a = [rng.lognormvariate(-4, 1.2) for _ in range(3000)]
    part_b = [rng.lognormvariate(-3, 0.5) for _ in range(2000)]
    expected = Stats()
    _record(expected, part_a + part_b, fail_every=0)

    merged = Stats()
    for part in (part_a, part_b):
        worker = Stats()
        _record(worker, part)
        for chunk in (worker.export(reset=True),):
            frame = m.encode(m.Report(chunk, 1, 0.0))
            merged.merge(m.decode(frame).stats)  # type: ignore[attr-defined]

    want = expected.rows[("/api", "GET")].lat
    got = merged.rows[("/api", "GET")].lat
    assert (got.n, got.sum_us, got.min_us, got.max_us) == (
        want.n,
        want.sum_us,
        want.min_us,
        want.max_us,
    )
    assert dict(got.counts) == dict(want.counts)
    qs = [50.0, 90.0, 95.0, 99.0, 99.9, 100.0]
    assert got.percentiles_us(qs) == want.percentiles_us(qs)
    assert merged.iterations == expected.iterations == 5000


def test_delta_reports_add_up_and_errors_merge() -> None:
    """Reports with reset=True are deltas: their sum is the whole run, errors included."""
    worker, merged = Stats(), Stats()
    _record(worker, [0.010] * 10, fail_every=5)
    merged.merge(m.decode(m.encode(m.Report(worker.export(reset=True), 2, 0.0))).stats)
    _record(worker, [0.020] * 6, fail_every=3)
    merged.merge(m.decode(m.encode(m.Done(worker.export(reset=True), "done"))).stats)
    row = merged.rows[("/api", "GET")]
    assert row.requests == 16 and row.fail is not None and row.fail.n == 4
    assert row.failures == 2 + 2
    assert row.errors["HTTP 500"][0] == 4
    assert worker.rows[("/api", "GET")].lat.n == 0  # the worker's counts were reset


def test_workers_seconds_merge_by_wall_clock_second_exactly() -> None:
    """Each worker closes its seconds on wall-clock seconds; the master adds the same seconds
    of every worker, whenever their reports arrive (a report mid-second loses nothing)."""
    from tests.fakes import FakeClock
    from yamlswarm.distributed.worker import interval_export

    clock = FakeClock(0.0, epoch=1_700_000_000.0)
    workers = [Stats(clock=clock.wall), Stats(clock=clock.wall)]
    master = Stats(clock=clock.wall)
    reports = []
    for second, counts in enumerate([(3, 5), (0, 2)]):
        for worker, n in zip(workers, counts, strict=True):
            _record(worker, [0.001 * (i + 1) for i in range(n)], fail_every=2)
            reports.append(interval_export(worker))  # a report in the middle of the second
        clock.t = float(second + 1)
        for worker in workers:
            worker.tick(1)
    reports.extend(interval_export(w) for w in workers)
    for report in reversed(reports):  # in any order
        master.merge(report)
    master.tick(2, final=True)
    first, second = master.timeline
    assert (first.rps, second.rps) == (8.0, 2.0)
    # requests 0, 2, 4 of each batch failed: 2 + 3 in the first second, 1 in the second
    assert (first.failures_per_s, second.failures_per_s) == (5.0, 1.0)
    assert second.p50 is not None and first.t + 1 == second.t
    assert sum(r.requests for r in master.request_rows()) == 10


def _frame(kind: str, **fields: object) -> bytes:
    return msgpack.packb([m.PROTOCOL, kind, fields], use_bin_type=True)


WELCOME = {"worker_id": "w1", "bundle": b"", "bundle_hash": "h", "scenario": "s.yaml"}


@pytest.mark.parametrize(
    "frame, text",
    [
        (_frame("heartbeat", users="many"), "users is str 'many'"),
        (_frame("heartbeat", users=True), "users is bool True"),
        (_frame("heartbeat", users=-1), "-1 users"),
        (_frame("ready", bundle_hash=5), "bundle_hash is int 5"),
        (_frame("ready", bundle_hash=b"bytes"), "bundle_hash is bytes"),
        (_frame("hello", name="x" * 300, version="1"), "a name of 300 characters"),
        (_frame("start", index=3, count=3), "share 3 of 3 does not exist"),
        (_frame("start", index=0, count=1, seed="s"), "seed is str 's'"),
        (_frame("report", stats=[], users=1, time=0.0), "stats is list []"),
        (_frame("report", stats={1: 2}, users=1, time=0.0), "stats is dict {1: 2}"),
        (_frame("report", stats={}, users=1, time=float("nan")), "a time of nan"),
        (_frame("done", stats={}, reason="r", interrupted=1), "interrupted is int 1"),
        (_frame("welcome", **WELCOME, heartbeat=0.0), "heartbeat must be between 0.05s"),
        (_frame("welcome", **WELCOME, heartbeat=float("nan")), "and 3600s, not nan"),
        (_frame("welcome", **WELCOME, heartbeat_timeout=0.5), "must be longer than heartbeat"),
        (msgpack.packb([m.PROTOCOL, 7, {}]), "unknown message type 7"),
        (msgpack.packb([True, "hello", {}]), "protocol version True"),
        (msgpack.packb([m.PROTOCOL, "stop", {"reason": "x"}]) + b"\x00", "not a yamlswarm message"),
    ],
)
def test_fields_of_the_wrong_kind_are_protocol_errors(frame: bytes, text: str) -> None:
    with pytest.raises(m.ProtocolError, match=re.escape(text)):
        m.decode(frame)


def test_heartbeat_problem_names_the_options_it_is_given() -> None:
    assert m.heartbeat_problem(1.0, 10.0) == ""
    names = ("--heartbeat", "--heartbeat-timeout")
    assert m.heartbeat_problem(2.0, 2.0, names) == (
        "--heartbeat-timeout (2s) must be longer than --heartbeat (2s)"
    )
    assert "--heartbeat must be between" in m.heartbeat_problem(float("inf"), 10.0, names)
