"""Printing the benchmark figures (one table per case, then the bars) and writing them as JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from tabulate import tabulate


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _throughput_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["tool"], "error: " + r["error"][:70]] + ["-"] * 8)
            continue
        ratio, cpu_ratio = r.get("ratio_to_locust"), r.get("cpu_ratio_to_locust")
        rows.append(
            [
                r["tool"],
                r["requests"],
                r["failures"],
                _fmt(r["rps"], ",.0f"),
                _fmt(r["p50_ms"]),
                _fmt(r["p99_ms"]),
                _fmt(r.get("req_per_cpu_s"), ",.0f"),
                f"{ratio:.2f}x" if ratio else "-",
                f"{cpu_ratio:.2f}x" if cpu_ratio else "-",
                _fmt(r.get("max_rss_mb")),
            ]
        )
    return rows


_THROUGHPUT_HEADERS = [
    "tool",
    "requests",
    "failures",
    "requests/s",
    "p50 ms",
    "p99 ms",
    "req/CPU-s",
    "rps vs Locust",
    "req/CPU-s vs Locust",
    "max RSS MB",
]


def _many_users_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["tool"], "error: " + r["error"][:70]] + ["-"] * 6)
            continue
        rows.append(
            [
                r["tool"],
                r["requests"],
                r["failures"],
                _fmt(r.get("steady_rps"), ",.1f"),
                _fmt(r["p50_ms"]),
                _fmt(r.get("steady_p50_ms")),
                _fmt(r["p99_ms"]),
                _fmt(r["max_rss_mb"]),
                _fmt(r.get("cpu_s")),
            ]
        )
    return rows


_MANY_USERS_HEADERS = [
    "tool",
    "requests",
    "failures",
    "steady requests/s",
    "p50 ms",
    "steady p50 ms",
    "p99 ms",
    "peak RSS MB",
    "CPU s",
]


def _validate_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [r["tool"], r["files"], r["runs"], r["failed"], r["min_s"], r["median_s"], r["max_rss_mb"]]
        for r in results
    ]


def print_case(case: dict[str, Any]) -> None:
    print(f"\n{case['title']}")
    if "skipped" in case:
        print(f"  skipped: {case['skipped']}")
        return
    results = case["results"]
    if results and "files" in results[0]:
        print(
            tabulate(
                _validate_rows(results),
                headers=["command", "files", "runs", "failed", "min s", "median s", "max RSS MB"],
            )
        )
    elif "true_latency" in case:
        for source, figures in case["true_latency"].items():
            if figures:
                print(
                    f"  target's true latency ({source}): p50 {figures.get('p50_ms')} ms, "
                    f"mean {figures.get('mean_ms')} ms, p99 {figures.get('p99_ms')} ms"
                )
        print(tabulate(_many_users_rows(results), headers=_MANY_USERS_HEADERS))
    elif "table" in case:
        print(tabulate(case["table"]["rows"], headers=case["table"]["headers"]))
    else:
        print(tabulate(_throughput_rows(results), headers=_THROUGHPUT_HEADERS))
    for bar in case.get("bars", []):
        print(f"  {_verdict(bar['met'])}  {bar['bar']}: {bar['value']}")


def _verdict(met: bool | None) -> str:
    return "MET " if met else "n/a " if met is None else "MISS"


def print_summary(results: dict[str, Any]) -> None:
    rows = [
        [key, bar["bar"], _fmt(bar["value"]), _verdict(bar["met"])]
        for key, case in results.items()
        for bar in case.get("bars", [])
    ]
    if rows:
        print("\nBars (ratios measured in this run):")
        print(tabulate(rows, headers=["case", "bar", "measured", "verdict"]))


def write_results(record: dict[str, Any], output: Path) -> None:
    """The result file, and a dated copy beside it (results/ is git-ignored)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2) + "\n"
    output.write_text(text)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    dated = output.with_name(f"run-{stamp}.json")
    dated.write_text(text)
    print(f"\nwritten: {output} and {dated.name}")
