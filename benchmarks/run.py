"""Benchmark "one GET, 50 users, no wait" (SPEC section 8): Locust FastHttpUser vs yamlswarm, side by side.

Run with the Python that has yamlswarm installed:  python benchmarks/run.py
The load tool is pinned to core 0 and the target (nginx, or the demo API) to core 1.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from tabulate import tabulate
from targets import Target, find_nginx, start_demo, start_nginx

HERE = Path(__file__).resolve().parent
LOCUST_VENV = HERE / ".venv-locust"
RESULTS = HERE / "results" / "latest.json"
CASE = "one GET, 50 users, no wait"
SCENARIO = """\
version: 1
name: bench-one-get
users:
  - name: getter
    flows:
      - name: get
        steps:
          - get: {path}
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--duration", type=int, default=20, help="seconds per tool (default 20)")
    parser.add_argument("-u", "--users", type=int, default=50, help="virtual users (default 50)")
    parser.add_argument("--tools", default="locust,yamlswarm",
                        help="comma-separated, in order: locust, yamlswarm, raw (a raw geventhttpclient "
                             "loop, to calibrate the machine); default locust,yamlswarm")
    parser.add_argument("--target", choices=("auto", "nginx", "demo"), default="auto",
                        help="auto = nginx if installed (apt-get installs it when root), else the demo API")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every tool, interleaved; the median run is kept (default 1)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"result file (default {RESULTS})")
    return parser.parse_args()


def _pins(disabled: bool) -> tuple[list[str], list[str]]:
    """taskset prefixes for the load tool (core 0) and the target (core 1)."""
    if disabled or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        if not disabled:
            print("warning: not pinning (needs taskset and 2 cores)", file=sys.stderr)
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"]


def _start_target(kind: str, pin: list[str]) -> Target:
    if kind in ("auto", "nginx"):
        nginx = find_nginx(install=os.geteuid() == 0)
        if nginx:
            return start_nginx(nginx, pin)
        if kind == "nginx":
            raise SystemExit("nginx is not installed")
    return start_demo(pin)


# ------------------------------------------------------------------ Locust


def _locust_binary() -> Path:
    locust = LOCUST_VENV / "bin" / "locust"
    if not locust.exists():
        print(f"creating {LOCUST_VENV} and installing locust ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(LOCUST_VENV)], check=True)
        subprocess.run([str(LOCUST_VENV / "bin" / "pip"), "install", "-q", "locust"], check=True)
    return locust


def run_locust(target: Target, args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    locust = _locust_binary()
    version = subprocess.run([str(locust), "--version"], capture_output=True, text=True, check=False).stdout.split()
    command = [*pin, str(locust), "-f", str(HERE / "locust_get.py"), "--headless",
               "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
               "--host", target.url, "--csv", str(tmp / "locust"), "--only-summary",
               "--loglevel", "WARNING"]
    env = {**os.environ, "BENCH_PATH": target.path}
    stats = tmp / "locust_stats.csv"
    stats.unlink(missing_ok=True)
    completed = _run(command, env, args.duration, tmp / "locust.log")
    if not stats.exists():
        return {"tool": "locust", "error": f"no stats (exit {completed}); see output above"}
    with stats.open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {"tool": "locust (FastHttpUser)", "version": version[1] if len(version) > 1 else "?",
            "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]), "p50_ms": _number(row["50%"]),
            "p99_ms": _number(row["99%"])}


# ------------------------------------------------------------------ yamlswarm


def run_yamlswarm(target: Target, args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    scenario = tmp / "bench_one_get.yaml"
    scenario.write_text(SCENARIO.format(path=target.path))
    out = tmp / "yamlswarm.json"
    out.unlink(missing_ok=True)
    command = [*pin, sys.executable, "-m", "yamlswarm", "run", str(scenario), "--host", target.url,
               "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
               "--json", str(out), "-q"]
    completed = _run(command, dict(os.environ), args.duration, tmp / "yamlswarm.log")
    if not out.exists():
        tail = (tmp / "yamlswarm.log").read_text(errors="replace")[-800:]
        return {"tool": "yamlswarm", "error": f"no JSON result (exit {completed}): {tail.strip()}"}
    totals = json.loads(out.read_text())["totals"]
    latency = totals.get("latency_ms", {})
    return {"tool": "yamlswarm", "version": _version("yamlswarm"), "requests": totals["requests"],
            "failures": totals["failures"], "rps": float(totals["rps"]),
            "p50_ms": latency.get("p50"), "p99_ms": latency.get("p99")}


# ------------------------------------------------------------------ raw geventhttpclient


def run_raw(target: Target, args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    """A calibration row: what the HTTP library alone does on this core (no stats, no scenario)."""
    command = [*pin, sys.executable, str(HERE / "raw_geventhttpclient.py"), target.url, target.path,
               "-u", str(args.users), "-t", str(args.duration)]
    completed = _run(command, dict(os.environ), args.duration, tmp / "raw.log")
    lines = (tmp / "raw.log").read_text(errors="replace").strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"tool": "raw geventhttpclient", "error": f"no result (exit {completed})"}
    return {"tool": "raw geventhttpclient", "version": _version("geventhttpclient"),
            "requests": data["requests"], "failures": data["failures"], "rps": data["rps"],
            "p50_ms": None, "p99_ms": None}


# ------------------------------------------------------------------ helpers


def _run(command: list[str], env: dict[str, str], duration: int, log: Path) -> int:
    print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    with log.open("wb") as handle:
        try:
            return subprocess.run(command, check=False, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                  timeout=duration + 90).returncode
        except subprocess.TimeoutExpired:
            return -1


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["tool"], "-", "-", "-", "-", "-", r["error"][:60]])
            continue
        ratio = r.get("ratio_to_locust")
        rows.append([r["tool"], r["requests"], r["failures"], f"{r['rps']:,.0f}",
                     r["p50_ms"], r["p99_ms"], f"{ratio:.2f}x" if ratio else "-"])
    return tabulate(rows, headers=["tool", "requests", "failures", "requests/s", "p50 ms", "p99 ms",
                                   "vs Locust"])


def _run_rounds(tools: list[str], runners: dict[str, Any], target: Target, args: argparse.Namespace,
                pin: list[str]) -> list[dict[str, Any]]:
    """Run the tools in turn, `--repeat` rounds; keep each tool's median run by requests/s."""
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory(prefix="yamlswarm-bench-") as tmp:
        for index, tool in enumerate(tools * args.repeat):
            if index:
                time.sleep(2)  # let the target's sockets settle between runs
            runs[tool].append(runners[tool](target, args, pin, Path(tmp)))
    results = []
    for tool in tools:
        good = sorted((r for r in runs[tool] if "rps" in r), key=lambda r: r["rps"])
        if not good:
            results.append(runs[tool][-1])
            continue
        median = dict(good[(len(good) - 1) // 2])
        median["runs_rps"] = [round(r["rps"], 1) for r in runs[tool] if "rps" in r]
        results.append(median)
    return results


def main() -> int:
    args = _arguments()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    runners = {"locust": run_locust, "yamlswarm": run_yamlswarm, "raw": run_raw}
    unknown = set(tools) - set(runners)
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))}")
    tool_pin, target_pin = _pins(args.no_pin)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    target = _start_target(args.target, target_pin)
    print(f"target: {target.kind} at {target.url}{target.path}", file=sys.stderr)
    try:
        results = _run_rounds(tools, runners, target, args, tool_pin)
    finally:
        target.stop()
    base = next((r["rps"] for r in results if r["tool"].startswith("locust") and "rps" in r), None)
    for r in results:
        if base and "rps" in r:
            r["ratio_to_locust"] = round(r["rps"] / base, 3)
    print(f"\n{CASE}: {args.users} users, {args.duration}s x {args.repeat} per tool, "
          f"target {target.kind}")
    print(_table(results))
    _write(args, target, started, results, pinned=bool(tool_pin))
    return 0 if all("error" not in r for r in results) else 1


def _write(args: argparse.Namespace, target: Target, started: str, results: list[dict[str, Any]],
           pinned: bool) -> None:
    record = {
        "case": CASE, "started_at": started,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "target": {"kind": target.kind, "path": target.path},
        "settings": {"users": args.users, "spawn_rate": args.users, "duration_s": args.duration,
                     "repeat": args.repeat, "pinned": pinned},
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    sys.exit(main())
