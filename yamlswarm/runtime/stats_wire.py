"""A run's statistics as msgpack-friendly data, and their exact merge (distributed mode).

`export_stats` copies every number of a `runtime.stats.Stats` (optionally zeroing them
for delta reports); `merge_stats` adds such an export into another `Stats`. Latency of
successful and failed requests travel apart (`lat`, `fail`), as they are kept. The
current second travels too, so a master that merges reports and ticks its own Stats
builds the cluster's timeline. This module does not import `runtime.stats` (which
imports it): it works on any object of that shape.
"""

from __future__ import annotations

from typing import Any

from yamlswarm.runtime.hdr import Dist

EXPORT_VERSION = 4  # 3: custom metrics (`metrics`); 4: `iterations_interrupted`

__all__ = ["EXPORT_VERSION", "export_stats", "merge_stats"]


def export_stats(stats: Any, reset: bool = False) -> dict[str, Any]:
    """Every number of `stats`; `reset=True` then zeroes them (cached rows stay valid)."""
    data = {
        "version": EXPORT_VERSION,
        "iterations": stats.iterations,
        "iterations_interrupted": stats.iterations_interrupted,
        "dropped": stats.dropped,
        "rows": [_export_row(r) for r in stats.rows.values()],
        "checks": [list(c) for c in sorted(stats.checks)],
        "second": stats._second.export(),
        "second_failures": stats._sec_failures,
        "seconds": stats.epochs.export(drain=reset),
        "schedule_lag": stats.lag.export() if stats.lag is not None else None,
        "users_stopped": dict(stats.users_stopped),
        "test_stopped": stats.test_stopped,
        "metrics": stats.metrics.export(reset),
    }
    if stats.generator:
        data["generator"] = dict(stats.generator)
    if reset:
        _reset_counts(stats)
    return data


def _export_row(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "method": row.method,
        "failures": row.failures,
        "size": row.size_bytes,
        "lat": row.lat.export(),
        "fail": row.fail.export() if row.fail is not None else None,
        "service": row.service.export() if row.service is not None else None,
        "errors": [[e, *g] for e, g in row.errors.items()],
    }


def _reset_counts(stats: Any) -> None:
    stats.iterations = stats.iterations_interrupted = stats.dropped = 0
    stats.users_stopped.clear()
    for row in stats.rows.values():
        row.clear()
    # the current second is not cleared: it is closed, whole, under its epoch second
    if stats.lag is not None:
        stats.lag.clear()


def merge_stats(stats: Any, data: dict[str, Any]) -> None:
    """Add another process's exported numbers exactly."""
    if data.get("version") != EXPORT_VERSION:
        raise ValueError(f"stats export version {data.get('version')!r} is not supported")
    stats.iterations += data["iterations"]
    stats.iterations_interrupted += data["iterations_interrupted"]
    stats.dropped += data["dropped"]
    stats.checks.update((n, m, d) for n, m, d in data["checks"])
    for item in data["rows"]:
        _merge_row(stats, item)
    seconds = data.get("seconds")
    if not seconds:  # no closed epoch seconds: the current second is merged into ours
        stats._second.merge(data["second"])
        stats._sec_failures += data["second_failures"]
    else:
        stats.epochs.merge(seconds)
    lag = data.get("schedule_lag")
    if lag is not None and lag["n"]:
        if stats.lag is None:
            stats.lag = Dist()
        stats.lag.merge(lag)
    for reason, count in (data.get("users_stopped") or {}).items():
        stats.users_stopped[str(reason)] = stats.users_stopped.get(str(reason), 0) + int(count)
    stats.metrics.merge(data.get("metrics") or ())
    if data.get("test_stopped") and stats.test_stopped is None:
        stats.test_stopped = str(data["test_stopped"])


def _merge_row(stats: Any, item: dict[str, Any]) -> None:
    row = stats.row(item["name"], item["method"])
    row.lat.merge(item["lat"])
    row.failures += item["failures"]
    row.size_bytes += int(item.get("size", 0))
    for key in ("fail", "service"):
        dist = item.get(key)
        if dist is not None and dist["n"]:
            if getattr(row, key) is None:
                setattr(row, key, Dist())
            getattr(row, key).merge(dist)
    for error, count, first, last, example in item["errors"]:
        group = row.errors.get(error)
        if group is None:
            row.errors[error] = [count, first, last, example]
        else:
            group[0] += count
            if first < group[1]:
                group[1], group[3] = first, example
            group[2] = max(group[2], last)
