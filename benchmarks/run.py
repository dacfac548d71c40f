"""The benchmark suite of SPEC section 8: yamlswarm vs Locust FastHttpUser, side by side, in one run.

Run with the Python that has yamlswarm installed:  python benchmarks/run.py [--cases a,b,c,d,e]
The load tool is pinned to core 0 and the target (nginx, or the demo API) to core 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from cases import case_many_users, case_throughput, case_validate
from correctness import case_correctness
from report import print_case, print_summary, write_results
from targets import Target, find_nginx, raise_file_limit, start_demo, start_nginx
from tools import has_taskset

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CASES = ("a", "b", "c", "d", "e")


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e (default: all)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="(a)(b): interleaved rounds per tool, the median run is kept (default 1)",
    )
    parser.add_argument(
        "-t", "--duration", type=int, default=20, help="(a)(b): seconds per run (default 20)"
    )
    parser.add_argument(
        "-u", "--users", type=int, default=50, help="(a)(b): virtual users (default 50)"
    )
    parser.add_argument(
        "--tools",
        default="locust,yamlswarm",
        help="comma-separated, in order: locust, yamlswarm, yamlswarm-web (the same run with "
        "--web and a browser-like client reading its event stream: the web UI's cost), "
        "yamlswarm-jsonl / yamlswarm-prom (with --out jsonl=FILE / --out prometheus= to a "
        "local Prometheus: the live export's cost), raw "
        "(a bare geventhttpclient loop in case (a), to calibrate the machine); "
        "default locust,yamlswarm",
    )
    parser.add_argument("--c-users", type=int, default=10_000, help="(c): users (default 10000)")
    parser.add_argument(
        "--c-wait", type=float, default=5.0, help="(c): constant wait in seconds (default 5)"
    )
    parser.add_argument("--c-duration", type=int, default=60, help="(c): seconds (default 60)")
    parser.add_argument(
        "--c-spawn-rate",
        type=float,
        default=None,
        help="(c): users started per second (default users/wait: all started within one wait)",
    )
    parser.add_argument(
        "--c-skip",
        type=int,
        default=10,
        help="(c): seconds of ramp-up left out of the steady rate (default 10)",
    )
    parser.add_argument(
        "--validate-files",
        type=int,
        default=200,
        help="(d): copies validated at once (default 200)",
    )
    parser.add_argument(
        "--validate-runs", type=int, default=10, help="(d): runs of the one-file case (default 10)"
    )
    parser.add_argument(
        "--target",
        choices=("auto", "nginx", "demo"),
        default="auto",
        help="auto = nginx if installed (apt-get installs it when root), else the demo API",
    )
    parser.add_argument(
        "--no-install", dest="install", action="store_false", help="never run apt-get (nginx, wrk)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help=f"result file (default {RESULTS / 'latest.json'}; a dated copy is written beside it)",
    )
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = sorted(set(args.cases) - set(CASES)) + sorted(
        set(args.tools)
        - {"locust", "yamlswarm", "yamlswarm-web", "yamlswarm-jsonl", "yamlswarm-prom", "raw"}
    )
    if bad:
        parser.error(f"unknown cases or tools: {', '.join(bad)}")
    args.install = args.install and os.geteuid() == 0
    return args


def _pins(disabled: bool) -> tuple[list[str], list[str]]:
    """taskset prefixes for the load tool (core 0) and the target (core 1)."""
    if disabled or not has_taskset() or (os.cpu_count() or 1) < 2:
        if not disabled:
            print("warning: not pinning (needs taskset and 2 cores)", file=sys.stderr)
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"]


def _start_target(kind: str, pin: list[str], install: bool) -> Target:
    if kind in ("auto", "nginx"):
        nginx = find_nginx(install=install)
        if nginx:
            return start_nginx(nginx, pin)
        if kind == "nginx":
            raise SystemExit("nginx is not installed")
    return start_demo(pin)


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _run_cases(
    args: argparse.Namespace, target: Target | None, pin: list[str], target_pin: list[str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="yamlswarm-bench-") as folder:
        tmp = Path(folder)
        for case in args.cases:
            if case in ("a", "b"):
                results[case] = case_throughput(case, target, args, pin, tmp)
            elif case == "c":
                results[case] = case_many_users(target, args, pin, tmp)
            elif case == "e":
                results[case] = case_correctness(args, pin, target_pin, tmp)
            else:
                results[case] = case_validate(args, pin, tmp)
            print_case(results[case])
    return results


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    files = raise_file_limit()
    if "c" in args.cases and files < args.c_users + 1000:  # per process: the tool, and nginx
        print(f"warning: open-files limit {files} is low for {args.c_users} users", file=sys.stderr)
    tool_pin, target_pin = _pins(args.no_pin)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    needs_target = any(c in args.cases for c in ("a", "b", "c"))
    target = _start_target(args.target, target_pin, args.install) if needs_target else None
    if target is not None:
        print(f"target: {target.kind} at {target.url}{target.path}", file=sys.stderr)
    try:
        results = _run_cases(args, target, tool_pin, target_pin)
    finally:
        if target is not None:
            target.stop()
    record = {
        "started_at": started,
        "machine": machine(),
        "target": {"kind": target.kind, "path": target.path} if target else None,
        "pinned": bool(tool_pin),
        "open_files_limit": files,
        "cases": results,
    }
    print_summary(results)
    write_results(record, args.output)
    bars = [
        b["met"]
        for case in results.values()
        for b in case.get("bars", [])
        if not b["bar"].startswith("(info)")
    ]
    return 0 if all(b is not False for b in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
