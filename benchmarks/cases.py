"""The four cases of SPEC section 8: (a) one GET, (b) a flow, (c) 10,000 idle users, (d) validate."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

from targets import Target, find_binary, probe_latency, wrk_latency
from tools import (
    PROMETHEUS,
    PrometheusSink,
    run_locust,
    run_measured,
    run_raw,
    run_yamlswarm,
    yamlswarm_command,
)

ROOT = Path(__file__).resolve().parent.parent
TITLES = {
    "a": "(a) one GET, 50 users, no wait",
    "b": "(b) flow: templated URL, header, JMESPath extraction, status + JMESPath check",
    "c": "(c) 10,000 users, 5 s constant wait, 60 s",
    "d": "(d) yamlswarm validate: 1 file and 200 files",
}

SCENARIO_A = Template("""\
version: 1
name: bench-one-get
users:
  - name: getter
    flows:
      - name: get
        steps:
          - get: $path
""")

SCENARIO_B = Template("""\
version: 1
name: bench-flow
users:
  - name: shopper
    flows:
      - name: flow
        steps:
          - get: "$path?user={{ user.id }}&i={{ iteration }}"
            name: $path?user&i
            headers:
              X-Bench-User: "{{ user.id }}"
            extract:
              item_name: {jmespath: name}
            check:
              status: 200
              jmespath:
                - {expr: id, eq: 1}
""")

SCENARIO_C = Template("""\
version: 1
name: bench-many-idle-users
users:
  - name: idle
    wait: {constant: ${wait}s}
    flows:
      - name: get
        steps:
          - get: $path
""")


# ------------------------------------------------------------------ (a) and (b): requests/s


def case_throughput(
    case: str, target: Target, args: argparse.Namespace, pin: list[str], tmp: Path
) -> dict[str, Any]:
    """Locust vs yamlswarm (and optionally raw geventhttpclient), `--repeat` interleaved rounds."""
    if case == "b" and target.kind != "nginx":
        return {
            "title": TITLES[case],
            "skipped": "needs the nginx target (a JSON document without login)",
        }
    template, locustfile = (
        (SCENARIO_A, "locust_get.py") if case == "a" else (SCENARIO_B, "locust_flow.py")
    )
    scenario = tmp / f"bench_{case}.yaml"
    scenario.write_text(template.substitute(path=target.path))

    def exported(kind: str, out: str) -> dict[str, Any]:
        """yamlswarm with one live export (`--out OUT`): the row `yamlswarm-KIND`."""
        return run_yamlswarm(
            scenario,
            target.url,
            args.users,
            args.duration,
            pin,
            tmp,
            f"{case}-{kind}",
            extra=("--out", out),
            tool=f"yamlswarm-{kind}",
        )

    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "locust": lambda: run_locust(
            locustfile, target.url, target.path, args.users, args.duration, pin, tmp, case
        ),
        "yamlswarm": lambda: run_yamlswarm(
            scenario, target.url, args.users, args.duration, pin, tmp, case
        ),
        "yamlswarm-web": lambda: run_yamlswarm(
            scenario, target.url, args.users, args.duration, pin, tmp, f"{case}-web", web=True
        ),
        "raw": lambda: run_raw(target.url, target.path, args.users, args.duration, pin, tmp),
        "yamlswarm-jsonl": lambda: exported("jsonl", f"jsonl={tmp / f'live_{case}.jsonl'}"),
    }
    tools = [t for t in args.tools if case == "a" or t != "raw"]
    sink = _prometheus_sink(tools, tmp)
    if sink is not None:
        runners["yamlswarm-prom"] = lambda: exported("prom", f"prometheus={sink.url}")
    tools = [t for t in tools if t in runners]
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    try:
        for index, tool in enumerate(tools * args.repeat):
            if index:
                time.sleep(2)  # let the target's sockets settle between runs
            runs[tool].append(runners[tool]())
    finally:
        if sink is not None:
            sink.stop()
    results = [_median_run(runs[tool]) for tool in tools]
    bar = 2.0 if case == "a" else 1.5
    return {
        "title": TITLES[case],
        "settings": {"users": args.users, "duration_s": args.duration, "repeat": args.repeat},
        "results": results,
        "bars": _throughput_bars(results, bar),
    }


def _prometheus_sink(tools: list[str], tmp: Path) -> PrometheusSink | None:
    """A local Prometheus (remote-write receiver) when `yamlswarm-prom` is asked for."""
    if "yamlswarm-prom" not in tools:
        return None
    if not Path(PROMETHEUS).exists():
        print("warning: prometheus is not installed; yamlswarm-prom skipped", file=sys.stderr)
        return None
    folder = tmp / f"prometheus-{time.monotonic_ns()}"
    folder.mkdir()
    return PrometheusSink(folder)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by requests/s, with every run's requests/s and requests per CPU-second beside it."""
    good = sorted((r for r in runs if "rps" in r), key=lambda r: r["rps"])
    if not good:
        return runs[-1]
    median = {
        k: v for k, v in good[(len(good) - 1) // 2].items() if k not in ("history", "timeline")
    }
    median["runs_rps"] = [round(r["rps"], 1) for r in runs if "rps" in r]
    median["runs_req_per_cpu_s"] = [r.get("req_per_cpu_s") for r in runs if "rps" in r]
    return median


def _throughput_bars(results: list[dict[str, Any]], bar: float) -> list[dict[str, Any]]:
    base = next((r for r in results if r["tool"].startswith("locust") and "rps" in r), None)
    ours = next((r for r in results if r["tool"] == "yamlswarm" and "rps" in r), None)
    for r in results:
        if base and "rps" in r:
            r["ratio_to_locust"] = round(r["rps"] / base["rps"], 3)
            if r.get("req_per_cpu_s") and base.get("req_per_cpu_s"):
                r["cpu_ratio_to_locust"] = round(r["req_per_cpu_s"] / base["req_per_cpu_s"], 3)
    web_bar = []
    for tool, limit, what in (
        ("yamlswarm-web", 0.05, "--web"),
        ("yamlswarm-jsonl", 0.03, "--out jsonl="),
        ("yamlswarm-prom", 0.03, "--out prometheus="),
    ):
        other = next((r for r in results if r["tool"] == tool and "rps" in r), None)
        if ours and other and ours.get("req_per_cpu_s") and other.get("req_per_cpu_s"):
            cost = round(1 - other["req_per_cpu_s"] / ours["req_per_cpu_s"], 4)  # CPU/request
            label = f"{what} adds < {limit:.0%} CPU per request"
            web_bar.append({"bar": label, "value": cost, "met": cost < limit})
    if not (base and ours):
        return [{"bar": f"requests/s >= {bar}x Locust", "met": None, "value": None}, *web_bar]
    return [
        *web_bar,
        {
            "bar": f"requests/s >= {bar}x Locust",
            "value": ours["ratio_to_locust"],
            "met": ours["ratio_to_locust"] >= bar,
        },
        {
            "bar": f"(info) requests per CPU-second >= {bar}x Locust",
            "value": ours.get("cpu_ratio_to_locust"),
            "met": None
            if ours.get("cpu_ratio_to_locust") is None
            else ours["cpu_ratio_to_locust"] >= bar,
        },
    ]


# ------------------------------------------------------------------ (c): many idle users


def case_many_users(
    target: Target, args: argparse.Namespace, pin: list[str], tmp: Path
) -> dict[str, Any]:
    """Peak memory, steady achieved rate and reported p50 with `--c-users` users waiting `--c-wait` s."""
    users, wait, seconds = args.c_users, args.c_wait, args.c_duration
    ideal = users / wait
    # Users started all at once would stay in lockstep (a burst of every user each `wait` seconds);
    # started over one wait period (spawn rate users/wait) they give a steady rate of users/wait.
    spawn = args.c_spawn_rate or ideal
    true = {"probe": probe_latency(target)}
    wrk = find_binary("wrk", "wrk", install=args.install)
    if wrk:
        true["wrk"] = wrk_latency(target, wrk)
    true_p50 = (true.get("wrk") or true["probe"]).get("p50_ms")
    scenario = tmp / "bench_c.yaml"
    scenario.write_text(SCENARIO_C.substitute(path=target.path, wait=wait))
    results = []
    for tool in args.tools:
        if tool == "yamlswarm":
            result = run_yamlswarm(scenario, target.url, users, seconds, pin, tmp, "c", spawn)
            timeline = result.pop("timeline", [])
            result["steady_rps"] = _steady_from_timeline(timeline, seconds, args.c_skip)
            result["steady_p50_ms"] = _steady_p50(
                [p50 for t, rps, p50 in timeline if args.c_skip < t <= seconds and rps > 0]
            )
        elif tool == "locust":
            result = run_locust(
                "locust_idle.py", target.url, target.path, users, seconds, pin, tmp, "c", spawn
            )
            result["steady_rps"] = _steady_from_history(
                result.pop("history", []), seconds, args.c_skip
            )
        else:
            continue
        results.append(result)
        time.sleep(3)
    return {
        "title": f"(c) {users:,} users, {wait:g} s constant wait, {seconds} s",
        "settings": {
            "users": users,
            "wait_s": wait,
            "duration_s": seconds,
            "ideal_rps": ideal,
            "spawn_rate": spawn,
            "steady_window_s": [args.c_skip, seconds],
        },
        "true_latency": true,
        "results": results,
        "bars": _many_users_bars(results, ideal, true_p50),
    }


def _steady_from_timeline(
    timeline: list[tuple[int, float, float]], seconds: int, skip: int = 10
) -> float | None:
    """Mean rps of the timeline seconds (skip, duration]: ramp-up and the final partial second left out."""
    rows = [rps for t, rps, _ in timeline if skip < t <= seconds]
    return round(statistics.fmean(rows), 1) if rows else None


def _steady_p50(rows: list[float]) -> float | None:
    return round(statistics.median(rows), 3) if rows else None


def _steady_from_history(
    history: list[tuple[float, int]], seconds: int, skip: int = 10
) -> float | None:
    """Requests/s between the history rows nearest to `skip` s and to the end of the run."""
    rows = [(t, n) for t, n in history if skip <= t <= seconds]
    if len(rows) < 2 or rows[-1][0] == rows[0][0]:
        return None
    (t0, n0), (t1, n1) = rows[0], rows[-1]
    return round((n1 - n0) / (t1 - t0), 1)


def _many_users_bars(
    results: list[dict[str, Any]], ideal: float, true_p50: float | None
) -> list[dict[str, Any]]:
    ours = next((r for r in results if r["tool"] == "yamlswarm" and "rps" in r), None)
    locust = next((r for r in results if r["tool"].startswith("locust") and "rps" in r), None)
    bars: list[dict[str, Any]] = []
    if ours and locust:
        bars.append(
            {
                "bar": "peak memory <= Locust's",
                "value": f"{ours['max_rss_mb']} MB vs {locust['max_rss_mb']} MB",
                "met": ours["max_rss_mb"] <= locust["max_rss_mb"],
            }
        )
    if ours and ours.get("steady_rps") is not None:
        error = abs(ours["steady_rps"] - ideal) / ideal
        bars.append(
            {
                "bar": f"achieved rate within 2% of {ideal:,.0f}/s",
                "value": f"{ours['steady_rps']:,.1f}/s ({100 * error:.2f}% off)",
                "met": error <= 0.02,
            }
        )
    if ours and true_p50 is not None and ours.get("p50_ms") is not None:
        bars.append(
            {
                "bar": "reported p50 <= true latency + 2 ms",
                "value": f"{ours['p50_ms']} ms vs {true_p50} ms true",
                "met": ours["p50_ms"] <= true_p50 + 2.0,
            }
        )
    return bars


# ------------------------------------------------------------------ (d): validate


def case_validate(args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    """Wall time of `yamlswarm validate` on one copy of scenarios/shop.yaml and on `--validate-files` copies."""
    folder = tmp / "validate"
    files = _copies(folder, args.validate_files)
    one = _timed([*pin, *yamlswarm_command(), "validate", str(files[0])], args.validate_runs, tmp)
    many = _timed([*pin, *yamlswarm_command(), "validate", *map(str, files)], 3, tmp)
    results = [
        {"tool": "yamlswarm validate", "files": 1, **one},
        {"tool": "yamlswarm validate", "files": len(files), **many},
    ]
    met = one.get("median_s") is not None and one["median_s"] < 0.5 and not one["failed"]
    return {
        "title": TITLES["d"],
        "settings": {
            "source": "scenarios/shop.yaml",
            "copies": len(files),
            "runs_one": args.validate_runs,
            "runs_all": 3,
        },
        "results": results,
        "bars": [
            {
                "bar": "one file under 0.5 s wall",
                "value": f"median {one.get('median_s')} s, min {one.get('min_s')} s",
                "met": met,
            }
        ],
    }


def _copies(folder: Path, count: int) -> list[Path]:
    source = ROOT / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "hooks"):
        shutil.copytree(source / sub, folder / sub, dirs_exist_ok=True)
    text = (source / "shop.yaml").read_text()
    files = []
    for index in range(count):
        path = folder / f"shop_{index:03d}.yaml"
        path.write_text(text.replace("name: shop\n", f"name: shop-{index:03d}\n", 1))
        files.append(path)
    return files


def _timed(command: list[str], runs: int, tmp: Path) -> dict[str, Any]:
    walls, failed = [], 0
    for _ in range(runs):
        run = run_measured(command, dict(os.environ), 120, tmp / "validate.log")
        walls.append(run.wall_s)
        failed += run.returncode != 0
    return {
        "runs": runs,
        "failed": failed,
        "min_s": round(min(walls), 3),
        "median_s": round(statistics.median(walls), 3),
        "max_rss_mb": round(run.max_rss_mb, 1),
    }
