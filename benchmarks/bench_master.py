"""Master scale benchmark: one real master process, N simulated workers reporting every second.

The simulated workers speak the real protocol (Hello, Ready, Report, Done) over
ZeroMQ on 127.0.0.1 and send realistic reports: HDR histograms of several
request rows with a few hundred requests each per second, errors included.
The master decodes and merges every report exactly as in a real run. Prints
(and with --json writes) the master's CPU use during the load phase and its
peak memory.

    python benchmarks/bench_master.py --workers 200 --seconds 30
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gevent
import zmq.green as zmq

import yamlswarm
from yamlswarm.distributed import auth
from yamlswarm.distributed import messages as m
from yamlswarm.runtime.stats import Stats

SCENARIO = """\
version: 1
name: bench-master
host: http://127.0.0.1:9
load: {users: 1000, spawn_rate: 100, duration: 1h}
users:
  - flows:
      - steps:
          - get: /a
"""
TICKS = os.sysconf("SC_CLK_TCK")


def _report_frame(rows: int, per_row: int, seed: int) -> bytes:
    """One worker's one-second report: `rows` request rows of `per_row` requests each."""
    rng = random.Random(seed)
    stats = Stats()
    for r in range(rows):
        row = stats.row(f"/api/endpoint/{r}", "GET" if r % 3 else "POST")
        for n in range(per_row):
            latency = rng.lognormvariate(-4.5, 0.8)
            if n % 97 == 0:
                row.failure(latency, "HTTP 503", example="Service Unavailable")
            else:
                row.success(latency)
        for _ in range(per_row // 5):
            stats.iteration_done()
    from yamlswarm.distributed.worker import interval_export

    return m.encode(m.Report(interval_export(stats), 5, time.time()))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimulatedWorker:
    def __init__(self, context: zmq.Context, port: int, n: int, frame: bytes, token: str) -> None:
        self.sock = context.socket(zmq.DEALER)
        self.sock.linger = 0
        # the master accepts only workers that know its token (CURVE keys derived from it)
        self.sock.curve_publickey, self.sock.curve_secretkey = auth.client_keys(token)
        self.sock.curve_serverkey = auth.server_keys(token)[0]
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.n = n
        self.frame = frame
        self.started = gevent.event.Event()

    def join(self) -> None:
        self.sock.send(m.encode(m.Hello(f"sim-{self.n}", yamlswarm.__version__)))
        while True:
            msg = m.decode(self.sock.recv())
            if isinstance(msg, m.Welcome):
                self.sock.send(m.encode(m.Ready(msg.bundle_hash)))
            elif isinstance(msg, m.Start):
                self.started.set()
                return
            elif isinstance(msg, m.Refused):
                raise SystemExit(f"refused: {msg.reason}")

    def report(self, seconds: float) -> None:
        gevent.sleep(random.random())  # workers do not report in lockstep
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sock.send(self.frame)
            gevent.sleep(1.0)
        self.sock.send(m.encode(m.Done(Stats().export(), "finished")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rows", type=int, default=10, help="request rows per report")
    parser.add_argument("--per-row", type=int, default=200, help="requests per row per second")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    frames = [_report_frame(args.rows, args.per_row, seed) for seed in range(8)]
    port = _free_port()
    token = auth.new_token()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench.yaml"
        scenario.write_text(SCENARIO)
        master = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "yamlswarm",
                "master",
                str(scenario),
                "-q",
                "--expect-workers",
                str(args.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--expect-timeout",
                "120",
                "--token",
                token,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        context = zmq.Context()
        workers = [
            SimulatedWorker(context, port, n, frames[n % len(frames)], token)
            for n in range(args.workers)
        ]
        joined = time.monotonic()
        joins = [gevent.spawn(w.join) for w in workers]
        while len(gevent.joinall(joins, timeout=1.0, raise_error=True)) < len(joins):
            if master.poll() is not None:
                raise SystemExit(
                    f"the master exited with code {master.returncode} before the start"
                )
        join_s = time.monotonic() - joined
        cpu0, t0 = _cpu_seconds(master.pid), time.monotonic()
        gevent.joinall([gevent.spawn(w.report, args.seconds) for w in workers], raise_error=True)
        cpu1, t1 = _cpu_seconds(master.pid), time.monotonic()
        peak = _peak_rss_mb(master.pid)
        code = master.wait(timeout=60)
        context.destroy(linger=0)
    result = {
        "workers": args.workers,
        "seconds": round(t1 - t0, 1),
        "report_bytes": len(frames[0]),
        "requests_per_report": args.rows * args.per_row,
        "join_s": round(join_s, 2),
        "master_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "master_peak_rss_mb": round(peak, 1),
        "master_exit_code": code,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
