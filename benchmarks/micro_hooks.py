"""What the hook API's timing calls cost per call: `user.measure`, `user.record`
(custom metrics' `add`: `benchmarks/micro_metrics.py`).

    python benchmarks/micro_hooks.py [--number 200000] [--repeat 7]

A micro-benchmark with `timeit`, no network: one `VirtualUser` on the real clock
(`time.perf_counter`) and a real `Stats`, as a hook sees them in a run. Each case is
timed `--repeat` times over `--number` calls on this process's CPU time
(`time.process_time`, so that time the process spends descheduled on a busy machine
is not counted; `--wall` times on the wall clock instead); the best run is printed,
with the median beside it, in microseconds per call, the cost of an empty call
subtracted. The bar (issue 14): under 2 µs per call on the hot path.
Record the figures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yamlswarm.runtime.context import RunContext, RunState
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.stats import Stats
from yamlswarm.runtime.user import VirtualUser
from yamlswarm.runtime.usertypes import CompiledUserType

BAR_US = 2.0


class _Clock:
    """The real runner's clock for what is timed here (no gevent needed: nothing sleeps)."""

    now = staticmethod(time.perf_counter)
    wall = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


class _NoTransport:
    def send(self, request: Any) -> Any:
        raise AssertionError("the micro-benchmark sends nothing")

    def close(self) -> None:
        pass


def make_user() -> VirtualUser:
    clock = _Clock()
    ctx = RunContext(
        stats=Stats(),
        base=None,
        hooks=HookRunner(None),
        clock=clock,
        state=RunState(None, clock.now),
    )
    kind = CompiledUserType(
        name="bench", flows=(), cumulative=(), on_start=(), on_stop=(), wait=None
    )
    return VirtualUser(ctx, kind, 1, 1, _NoTransport())


def cases(user: VirtualUser) -> dict[str, Any]:
    """Each case: a function of no arguments doing one call (its loop overhead is subtracted)."""
    measure, record = user.measure, user.record

    def measure_ok() -> None:
        with measure("publish", "MQTT"):
            pass

    def measure_sized() -> None:
        with measure("get", "REDIS") as m:
            m.size = 120

    def record_ok() -> None:
        record("MQTT", "receive", 0.0042)

    def record_sized() -> None:
        record("MQTT", "receive", 0.0042, size=64)

    def record_error() -> None:
        record("MQTT", "receive", 0.0042, error="timeout")

    found: dict[str, Any] = {
        "measure": measure_ok,
        "measure, size set": measure_sized,
        "record": record_ok,
        "record, size": record_sized,
        "record, error": record_error,  # the failure path: RowStats.failure, as a failed request
    }
    return found


def empty() -> None:
    pass


def run(number: int, repeat: int, wall: bool = False) -> list[tuple[str, float, float]]:
    user = make_user()
    timer = time.perf_counter if wall else time.process_time
    base = min(timeit.repeat(empty, number=number, repeat=repeat, timer=timer)) / number
    out = []
    for name, fn in cases(user).items():
        fn()  # the row is made by the first call, as in a run
        runs = timeit.repeat(fn, number=number, repeat=repeat, timer=timer)
        times = [t / number - base for t in runs]
        out.append((name, min(times) * 1e6, statistics.median(times) * 1e6))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs per case")
    parser.add_argument("--wall", action="store_true", help="time on the wall clock")
    args = parser.parse_args(argv)
    clock = "wall clock" if args.wall else "CPU time"
    print(f"Python {sys.version.split()[0]}, {args.repeat} x {args.number} calls per case, {clock}")
    print(f"{'case':<20} {'best µs':>9} {'median µs':>10}  bar {BAR_US} µs")
    worst = 0.0
    for name, best, median in run(args.number, args.repeat, args.wall):
        verdict = "ok" if best < BAR_US else "OVER"
        if "error" in name:  # a failure is not the hot path: shown, not held to the bar
            verdict = f"({verdict}; failure path)"
        else:
            worst = max(worst, best)
        print(f"{name:<20} {best:>9.3f} {median:>10.3f}  {verdict}")
    return 0 if worst < BAR_US else 1


if __name__ == "__main__":
    sys.exit(main())
