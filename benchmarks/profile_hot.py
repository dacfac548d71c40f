"""Where `yamlswarm run` spends its time on cases (a) and (b): py-spy samples, summed by function.

    python benchmarks/profile_hot.py [--cases a,b] [-t 15] [--native]

Needs py-spy (`pip install py-spy`) in the Python running this script and nginx.
The tool is pinned to core 0, nginx to core 1, as in run.py. Prints the top
functions by own time and by inclusive time, and keeps the raw collapsed
stacks in benchmarks/results/profile_<case>.txt (for flamegraph tools).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cases import SCENARIO_A, SCENARIO_B
from targets import find_nginx, start_nginx
from tools import yamlswarm_command

RESULTS = Path(__file__).resolve().parent / "results"
_LINE = re.compile(r":\d+\)$")


def summarize(collapsed: Path, top: int) -> str:
    """Top functions by own ("self") and inclusive samples, as percentages of all samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "-- own time"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["-- inclusive time"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="a,b")
    parser.add_argument("-t", "--duration", type=int, default=15)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--native", action="store_true", help="py-spy --native (slows the tool a lot)"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    nginx = find_nginx(install=False)
    if not Path(spy).exists() or not nginx:
        raise SystemExit("needs py-spy and nginx")
    target = start_nginx(nginx, ["taskset", "-c", "1"])
    RESULTS.mkdir(exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="yamlswarm-profile-") as folder:
            for case in args.cases.split(","):
                template = SCENARIO_A if case == "a" else SCENARIO_B
                scenario = Path(folder) / f"{case}.yaml"
                scenario.write_text(template.substitute(path=target.path))
                out = RESULTS / f"profile_{case}.txt"
                command = [
                    "taskset",
                    "-c",
                    "0",
                    spy,
                    "record",
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "-o",
                    str(out),
                    *(["--native"] if args.native else []),
                    "--",
                    *yamlswarm_command(),
                    "run",
                    str(scenario),
                    "--host",
                    target.url,
                    "-u",
                    "50",
                    "-r",
                    "50",
                    "-t",
                    f"{args.duration}s",
                    "-q",
                ]
                subprocess.run(
                    command, check=False, stdout=subprocess.DEVNULL, timeout=args.duration + 120
                )
                print(f"\n== case ({case})\n{summarize(out, args.top)}")
    finally:
        target.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
