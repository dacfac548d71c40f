"""Case (e): correctness under load — counts equal the server's, percentiles match a known pattern.

1. Counts: case (a)'s load (50 users, no wait) against nginx with its access log on; the
   requests yamlswarm reports must equal the lines nginx logged, exactly.
2. Latency pattern: nginx's echo module answers /ms100 ... /ms1000 after sleeping 100 ...
   1,000 ms; 5,000 users walk those ten URLs with no wait (about 9,000 requests/s, the bars'
   load), so each value is a tenth of the requests and the true p50, p90 and p99 are 500,
   900 and 1,000 ms. yamlswarm's must be within 1 % of them. (The sleeps are long so that
   nginx's own timer lateness at this load, a few ms, stays far below 1 %; nginx's
   $request_time is shown beside them.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from targets import find_file, find_nginx, start_nginx
from tools import run_yamlswarm

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
PATTERN_MS = tuple(range(100, 1001, 100))
PATTERN_USERS = 5000  # 5,000 users / 0.55 s mean = about 9,000 requests/s
PATTERN_SPAWN = 1000  # users/s: 5,000 connections at once overflow the listen backlog

COUNT_SCENARIO = """\
version: 1
name: bench-e-counts
users:
  - flows:
      - steps:
          - get: /data.json
"""


def _pattern_scenario() -> str:
    """Each user connects with a warm-up request (its own row), then walks the pattern: one row
    named "pattern" holds exactly the pattern's requests, free of connection set-up."""
    steps = "\n".join(f"          - {{get: /ms{ms}, name: pattern}}" for ms in PATTERN_MS)
    return (
        "version: 1\nname: bench-e-pattern\nusers:\n  - on_start:\n"
        "      - {get: /warm-up, name: warm-up}\n"
        f"    flows:\n      - steps:\n{steps}\n"
    )


def _nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * int(q * 100) // 10000) - 1)]


def _expected(q: float) -> float:
    """The q-th percentile (nearest rank) of the pattern: each value is a tenth of requests."""
    ordered = sorted(PATTERN_MS)
    rank = max(1, -(-int(q * 10) // 100))  # ceil(q / 100 * 10) for the ten equal shares
    return float(ordered[min(rank, len(ordered)) - 1])


def case_correctness(
    args: argparse.Namespace, pin_tool: list[str], pin_target: list[str], tmp: Path
) -> dict[str, Any]:
    title = "(e) correctness under load: counts and a known latency pattern"
    nginx = find_nginx(args.install)
    module = find_file(ECHO_MODULE, "libnginx-mod-http-echo", args.install)
    if nginx is None or module is None:
        return {"title": title, "skipped": "needs nginx and Debian's libnginx-mod-http-echo"}
    locations = (
        " ".join(
            f"location = /ms{ms} {{ echo_sleep {ms / 1000:.3f}; echo ok; }}" for ms in PATTERN_MS
        )
        + " location = /warm-up { echo ok; }"
    )
    target = start_nginx(
        nginx,
        pin_target,
        main_extra=f"load_module {module};",
        access_log="log_format counted '$request_uri $request_time \"$http_user_agent\"'; "
        "access_log {tmp}/access.log counted;",
        locations=locations,
    )
    kept: dict[str, str] = {}
    try:
        counts = _counts(target, args, pin_tool, tmp)
        pattern = _pattern(target, args, pin_tool, tmp)
    finally:
        kept = target.stop(keep=("access.log",))  # nginx writes out its log as it stops
    lines = kept.get("access.log", "").splitlines()
    # only yamlswarm's requests: the harness's own readiness probe is logged too
    logged = sum(1 for line in lines if line.startswith("/data.json ") and '"yamlswarm/' in line)
    served_ms = [float(line.split()[1]) * 1000 for line in lines if line.startswith("/ms")]
    return _summary(title, counts, logged, pattern, served_ms)


def _counts(target: Any, args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    scenario = tmp / "bench_e_counts.yaml"
    scenario.write_text(COUNT_SCENARIO)
    result = run_yamlswarm(scenario, target.url, 50, args.duration, pin, tmp, "e_counts")
    time.sleep(1)
    return result


def _pattern(target: Any, args: argparse.Namespace, pin: list[str], tmp: Path) -> dict[str, Any]:
    scenario = tmp / "bench_e_pattern.yaml"
    scenario.write_text(_pattern_scenario())
    result = run_yamlswarm(
        scenario, target.url, PATTERN_USERS, args.duration, pin, tmp, "e_pattern", PATTERN_SPAWN
    )
    data = json.loads((tmp / "yamlswarm_e_pattern.json").read_text())
    row = next((r for r in data["requests"] if r["name"] == "pattern"), None)
    if row is not None:
        result.update(
            latency_ms=row["latency_ms"], requests=row["requests"], failures=row["failures"]
        )
    return result


def _summary(
    title: str,
    counts: dict[str, Any],
    logged: int,
    pattern: dict[str, Any],
    served_ms: list[float],
) -> dict[str, Any]:
    reported = counts.get("requests")
    rows = [["requests, yamlswarm vs nginx's log", f"{reported} vs {logged}", ""]]
    bars = [
        {
            "bar": "reported requests == requests the server logged",
            "value": f"{reported} vs {logged} at {counts.get('rps', 0):,.0f}/s",
            "met": reported == logged and logged > 0,
        }
    ]
    latency = pattern.get("latency_ms", {})
    within = bool(latency)
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        expected, measured = _expected(q), latency.get(key)
        if measured is None:
            within = False
            continue
        within &= expected * 0.99 <= measured <= expected * 1.01
        served = _nearest_rank(served_ms, q)
        rows.append(
            [
                f"{key}: yamlswarm / nginx's $request_time / pattern",
                f"{measured} / {served} / {expected:g} ms",
                f"{(measured / expected - 1) * 100:+.2f} %",
            ]
        )
    bars.append(
        {
            "bar": "p50/p90/p99 within 1 % of the known latency pattern",
            "value": f"{pattern.get('requests', 0):,} requests at {pattern.get('rps', 0):,.0f}/s",
            "met": within and pattern.get("failures", 1) == 0,
        }
    )
    return {
        "title": title,
        "results": [],
        "table": {"headers": ["check", "measured", "off"], "rows": rows},
        "bars": bars,
    }
