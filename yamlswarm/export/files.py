"""Exports to local files, line by line while the run goes on: `--out jsonl=FILE` and the
Locust-style `PREFIX_stats_history.csv` of `--csv PREFIX` (with `--csv-full-history`).

Both are opened when the run starts (a file that cannot be written is a usage
error, exit 2, before any load) and written by the export thread, a second at a
time, flushed after each batch, so `tail -f` shows the run as it goes.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from yamlswarm.errors import UsageError
from yamlswarm.export.sample import RowSample, Sample, Window
from yamlswarm.report.files import LOCUST_PERCENTILES, LOCUST_QUANTILES

__all__ = ["HISTORY_COLUMNS", "CsvHistory", "JsonLines", "open_export_file"]
HISTORY_COLUMNS = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    *LOCUST_PERCENTILES,
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
    # yamlswarm's own, after Locust's: the window in exact ms, and the timeline's columns
    "t",
    "p50 ms",
    "p90 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
]


def open_export_file(path: str | os.PathLike[str]) -> IO[str]:
    """Open `path` for writing (parent directories created); UsageError when it cannot be."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _window_dict(window: Window | None, interval: float) -> dict[str, Any] | None:
    if window is None:
        return None
    q = window.quantiles
    return {
        "requests": window.requests,
        "failures": window.failures,
        "rps": round(window.requests / interval, 3) if interval > 0 else 0.0,
        "mean": window.mean,
        "p50": q[0.5],
        "p90": q[0.9],
        "p95": q[0.95],
        "p99": q[0.99],
        "max": q[1.0],
    }


class JsonLines:
    """`--out jsonl=FILE`: one JSON object per second and row, for any other tool.

    Each object: `time` (ISO 8601 UTC), `t` (seconds since the start), `run_id`,
    `scenario`, `type` ("request", "transaction", "total" or "metric"), `name`,
    `method`, `users`, `requests` and `failures` (running totals), `window` (that
    second's `{requests, failures, rps, mean, p50, p90, p95, p99, max}`, or null);
    "metric" objects (one per second and custom metric) carry `kind` and `values` (the
    metric's numbers, as the result's `metrics` has them) instead.
    """

    def __init__(self, path: str | os.PathLike[str], scenario: str, run_id: str) -> None:
        self.path = Path(path)
        self.scenario = scenario
        self.run_id = run_id
        self._out = open_export_file(self.path)

    def __call__(self, batch: list[Sample]) -> None:
        for sample in batch:
            for obj in self.objects(sample):
                self._out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._out.flush()

    def objects(self, sample: Sample) -> list[dict[str, Any]]:
        head = {"time": _iso(sample.wall), "t": round(sample.elapsed, 3)}
        head.update(run_id=self.run_id, scenario=self.scenario)
        out = []
        for row in (*sample.rows, sample.total):
            kind = "total" if row is sample.total else row.kind
            out.append({**head, "type": kind, **self._row(row, sample)})
        for name, values in sorted(sample.metrics.items()):
            metric = {"type": "metric", "name": name, "kind": values.get("kind")}
            out.append({**head, **metric, "values": dict(values)})
        return out

    @staticmethod
    def _row(row: RowSample, sample: Sample) -> dict[str, Any]:
        return {
            "name": row.name,
            "method": row.method,
            "users": sample.users,
            "requests": row.requests,
            "failures": row.failures,
            "window": _window_dict(row.window, sample.interval),
        }

    def close(self) -> None:
        self._out.close()


class CsvHistory:
    """PREFIX_stats_history.csv as Locust writes it: a row a second for `Aggregated`, and with
    `--csv-full-history` one for each request row before it. Percentiles cover that second."""

    def __init__(self, prefix: str | os.PathLike[str], full: bool) -> None:
        self.path = Path(f"{os.fspath(prefix)}_stats_history.csv")
        self.full = full
        self._out = open_export_file(self.path)
        self._csv = csv.writer(self._out)
        self._csv.writerow(HISTORY_COLUMNS)
        self._out.flush()

    def __call__(self, batch: list[Sample]) -> None:
        for sample in batch:
            rows = [r for r in sample.rows if r.kind == "request"] if self.full else []
            for row in (*rows, sample.total):
                self._csv.writerow(self.row(sample, row))
        self._out.flush()

    @staticmethod
    def row(sample: Sample, row: RowSample) -> list[Any]:
        window, interval = row.window, sample.interval if sample.interval > 0 else 1.0
        if window is None:
            rps = fps = 0.0
            # a second without requests has no percentiles: Locust's N/A, and empty cells
            percentiles: list[Any] = ["N/A"] * len(LOCUST_QUANTILES)
            exact: list[Any] = [""] * 5
        else:
            rps, fps = window.requests / interval, window.failures / interval
            percentiles = [round(window.quantiles[q]) for q in LOCUST_QUANTILES]
            exact = [window.quantiles[q] for q in (0.5, 0.9, 0.95, 0.99, 1.0)]
        return [
            int(sample.wall),
            sample.users,
            row.method,
            row.name,
            f"{rps:.6f}",
            f"{fps:.6f}",
            *percentiles,
            row.requests,
            row.failures,
            round(row.median),
            row.mean,
            row.min,
            row.max,
            round(row.size_bytes / row.requests) if row.requests else 0,
            round(sample.elapsed, 3),
            *exact,
        ]

    def close(self) -> None:
        self._out.close()
