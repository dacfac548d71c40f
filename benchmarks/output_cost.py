"""What the live outputs cost: CPU-seconds of one fixed-rate run, with and without each output.

    python benchmarks/output_cost.py [--rate 2000] [-t 20] [--rounds 3] [--variants web,jsonl,prom]

The throughput cases (`run.py --tools yamlswarm-web,...`) compare requests per CPU-second at
full speed, where two rounds of the same tool differ by 20 % on a shared machine. Here every
run does the same work: an open model at a fixed arrival rate against the same target for the
same time, so the CPU-seconds it took differ only by what the output adds (the web UI with a
client reading its event stream all along, as a browser does; `--out jsonl=FILE`; `--out
prometheus=` to a local Prometheus with the remote-write receiver). Variants run interleaved,
round after round, and each is compared with the plain run by the median of its rounds. The
bars: the web UI under 5 % (issue 15), a live export under 3 % (issue 16). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from targets import find_nginx, start_demo, start_nginx
from tools import (
    PROMETHEUS,
    PrometheusSink,
    _free_port,
    _watch_events,
    run_measured,
    yamlswarm_command,
)

BARS = {"web": 5.0, "jsonl": 3.0, "prom": 3.0}

SCENARIO = """\
version: 1
name: output-cost
load:
  arrival: [{{duration: {seconds}s, rate: {rate}/s}}]
  max_users: 200
users:
  - flows:
      - steps:
          - get: {path}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="arrivals per second (2000)")
    parser.add_argument("-t", "--duration", type=int, default=20, help="seconds per run (20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--variants", default="web,jsonl,prom", help="web,jsonl,prom")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if "prom" in variants and not Path(PROMETHEUS).exists():
        print("warning: prometheus is not installed; the prom variant is skipped", file=sys.stderr)
        variants.remove("prom")
    nginx = find_nginx(install=False)
    target = start_nginx(nginx, []) if nginx else start_demo([])
    tmp = Path(tempfile.mkdtemp(prefix="yamlswarm-output-cost-"))
    sink = PrometheusSink(tmp) if "prom" in variants else None
    try:
        scenario = tmp / "scenario.yaml"
        scenario.write_text(
            SCENARIO.format(seconds=args.duration, rate=args.rate, path=target.path)
        )
        cpu: dict[str, list[float]] = {name: [] for name in ["plain", *variants]}
        for round_ in range(args.rounds):
            for name in cpu:
                seconds, requests = _run(name, scenario, target.url, args, tmp, sink)
                cpu[name].append(seconds)
                print(
                    f"round {round_ + 1} {name:6} {seconds:6.2f} CPU-s, {requests} requests",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if sink is not None:
            sink.stop()
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _print(cpu, args, target.kind)
    return 0


def _run(name: str, scenario: Path, url: str, args, tmp: Path, sink) -> tuple[float, int]:
    out = tmp / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [*yamlswarm_command(), "run", str(scenario), "--host", url, "--json", str(out), "-q"]
    if name == "web":
        port = _free_port()
        command += ["--web", f"127.0.0.1:{port}", "--autostart", "--autoquit", "0"]
        reader = threading.Thread(
            target=_watch_events, args=(port, args.duration + 60), daemon=True
        )
        reader.start()
    elif name == "jsonl":
        command += ["--out", f"jsonl={tmp / 'live.jsonl'}"]
    elif name == "prom":
        command += ["--out", f"prometheus={sink.url}"]
    run = run_measured(command, dict(os.environ), args.duration + 120, tmp / f"{name}.log")
    if not out.exists():
        raise SystemExit(f"{name}: no JSON result (exit {run.returncode}); see {tmp / name}.log")
    return run.cpu_s, json.loads(out.read_text())["totals"]["requests"]


def _print(cpu: dict[str, list[float]], args, target: str) -> None:
    plain = statistics.median(cpu["plain"])
    print(
        f"\n{args.rate}/s for {args.duration} s against {target}, {args.rounds} interleaved rounds"
    )
    spread = max(max(v) / min(v) - 1 for v in cpu.values()) * 100
    print(f"(the same variant's rounds differ by up to {spread:.0f} %: the machine's noise)")
    print(f"{'variant':8} {'median CPU-s':>12} {'rounds':>40} {'cost':>8}  bar")
    for name, values in cpu.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v:.2f}" for v in values)
        if name == "plain":
            print(f"{name:8} {median:12.2f} {rounds:>40} {'':>8}")
            continue
        cost = (median - plain) / plain * 100
        verdict = "met" if cost < BARS[name] else "MISSED"
        print(f"{name:8} {median:12.2f} {rounds:>40} {cost:7.1f}%  < {BARS[name]:g} %: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
