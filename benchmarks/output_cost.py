"""What the live outputs cost: CPU-seconds of fixed-rate runs, each beside a plain twin.

    python benchmarks/output_cost.py [--rate 2000] [-t 30] [--rounds 8] [--variants web,jsonl,prom]

Every run does the same work: an open model at a fixed arrival rate against the same target for
the same time, so its CPU-seconds differ only by what its output adds (the web UI with a client
reading its event stream all along, as a browser does; `--out jsonl=FILE`; `--out prometheus=`
to a local Prometheus with the remote-write receiver) -- and by the machine's noise. On a shared
VM that noise is large: the same run, minutes apart, differs by up to 40 %. So each variant runs
*at the same time* as a plain twin (two processes, same rate, same target): both live through
the same noise, and the ratio of their CPU-seconds is what the output costs. Only the steady
part of each run is counted (the process's CPU from `/proc` between `--warmup` seconds and
`--cooldown` seconds before the end), so start-up imports and the final report are left out;
each round pairs every variant once, in rotating order, and which of the two
starts first alternates round by round (the first started measures about 1 % dearer here). The verdict takes the median of the
rounds' ratios and a bootstrap 95 % interval: "met" when the whole interval is below the bar
(the web UI under 5 %, issue 15; a live export under 3 %, issue 16), "MISSED" when it is all
above, "undecided" otherwise. The `plain` variant, a plain run beside a plain twin, is the
control: its interval is how finely this machine can tell two runs apart. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from targets import find_nginx, start_demo, start_nginx
from tools import PROMETHEUS, PrometheusSink, _free_port, _watch_events, yamlswarm_command

BARS = {"web": 5.0, "jsonl": 3.0, "prom": 3.0}  # "plain": the A/A control, no bar
TICKS = os.sysconf("SC_CLK_TCK")

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
    parser.add_argument("-t", "--duration", type=int, default=30, help="seconds per run (30)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds not counted (5)")
    parser.add_argument("--cooldown", type=float, default=3, help="final seconds not counted (3)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (8)")
    parser.add_argument(
        "--variants", default="plain,web,jsonl,prom", help="plain (a control),web,jsonl,prom"
    )
    args = parser.parse_args()
    if args.warmup + args.cooldown >= args.duration:
        parser.error("--warmup + --cooldown must be shorter than the run")
    variants = [v for v in args.variants.split(",") if v]
    if "prom" in variants and not Path(PROMETHEUS).exists():
        print("warning: prometheus is not installed; the prom variant is skipped", file=sys.stderr)
        variants.remove("prom")
    nginx = find_nginx(install=False)
    target = start_nginx(nginx, []) if nginx else start_demo([])
    tmp = Path(tempfile.mkdtemp(prefix="yamlswarm-output-cost-"))
    sink = PrometheusSink(tmp) if "prom" in variants else None
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    try:
        scenario = tmp / "scenario.yaml"
        scenario.write_text(
            SCENARIO.format(seconds=args.duration, rate=args.rate, path=target.path)
        )
        for round_ in range(args.rounds):
            order = variants[round_ % len(variants) :] + variants[: round_ % len(variants)]
            for name in order:
                plain, variant = _pair(name, round_ % 2 == 1, scenario, target.url, args, tmp, sink)
                ratios[name].append(variant / plain)
                print(
                    f"round {round_ + 1} {name:5} plain {plain:6.2f} CPU-s, beside it "
                    f"{variant:6.2f} ({(variant / plain - 1) * 100:+.1f} %)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if sink is not None:
            sink.stop()
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _print(ratios, args, target.kind)
    return 0


def _pair(
    name: str, flip: bool, scenario: Path, url: str, args, tmp: Path, sink
) -> tuple[float, float]:
    """Run a plain twin and the variant at once; their steady CPU-seconds (plain, variant)."""
    twin = ("plain", "twin")
    if flip:  # which of the two starts first alternates: the first is measured a little dearer
        variant = _start(name, name, scenario, url, args, tmp, sink)
        runs = [_start(*twin, scenario, url, args, tmp, sink), variant]
    else:
        runs = [_start(*twin, scenario, url, args, tmp, sink)]
        runs.append(_start(name, name, scenario, url, args, tmp, sink))
    started = time.monotonic()
    time.sleep(args.warmup)
    before = [_cpu_seconds(process.pid) for process, _ in runs]
    time.sleep(max(0.0, started + args.duration - args.cooldown - time.monotonic()))
    after = [_cpu_seconds(process.pid) for process, _ in runs]
    for (process, out), label in zip(runs, ("twin", name), strict=True):
        if process.wait(timeout=args.duration + 120) != 0 or not out.exists():
            raise SystemExit(f"{label}: exit {process.returncode}; see {tmp / label}.log")
        requests = json.loads(out.read_text())["totals"]["requests"]
        expected = args.rate * args.duration
        if abs(requests - expected) > expected * 0.02:  # both must have done the same work
            raise SystemExit(f"{label}: {requests} requests, not about {expected}")
    return after[0] - before[0], after[1] - before[1]


def _start(name: str, label: str, scenario: Path, url: str, args, tmp: Path, sink):
    """Start one run of variant `name`; its files are named after `label`."""
    out = tmp / f"{label}.json"
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
    log = (tmp / f"{label}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return process, out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def _interval(values: list[float], draws: int = 10_000) -> tuple[float, float]:
    """A bootstrap 95 % interval of the median (seeded: the same rounds give the same interval)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(draws * 0.025)], medians[int(draws * 0.975) - 1]


def _print(ratios: dict[str, list[float]], args, target: str) -> None:
    steady = args.duration - args.warmup - args.cooldown
    print(
        f"\n{args.rate}/s for {args.duration} s against {target} (the {steady:g} steady seconds "
        f"counted), {args.rounds} rounds, each variant beside a plain twin"
    )
    print(f"{'variant':8} {'median':>8} {'95 % interval':>18}  {'rounds':<48} bar")
    for name, values in ratios.items():
        median = (statistics.median(values) - 1) * 100
        low, high = ((v - 1) * 100 for v in _interval(values))
        rounds = " ".join(f"{(v - 1) * 100:+.1f}" for v in values)
        line = f"{name:8} {median:+7.1f}% [{low:+6.1f}, {high:+6.1f}] %  {rounds:<48}"
        bar = BARS.get(name)
        if bar is None:
            print(f"{line} (control)")
            continue
        verdict = "met" if high < bar else "MISSED" if low >= bar else "undecided"
        print(f"{line} < {bar:g} %: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
