"""Locust's `GET /stats/requests` JSON, from the live board (so Locust tooling reads yamlswarm)."""

from __future__ import annotations

from typing import Any

_PERCENTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.95", "p95"), ("0.99", "p99"))


def locust_stats(picture: dict[str, Any]) -> dict[str, Any]:
    """The board's picture in Locust's shape: state, user_count, total_rps, fail_ratio, stats,
    errors (each stats entry with Locust's field names; the last one is "Aggregated")."""
    totals = picture["totals"]
    rows = [_entry(row) for row in picture["rows"]]
    rows.append(_entry({"name": "Aggregated", "method": "", **totals}))
    requests = totals["requests"]
    return {
        "state": picture["state"],
        "user_count": picture["users"],
        "total_rps": totals.get("current_rps", 0.0),
        "total_fail_per_sec": totals.get("current_fail_per_s", 0.0),
        "fail_ratio": round(totals["failures"] / requests, 4) if requests else 0.0,
        "total_avg_response_time": totals.get("mean", 0.0),
        "current_response_time_percentiles": {
            f"response_time_percentile_{q}": totals.get(key, 0.0) for q, key in _PERCENTILES
        },
        "stats": rows,
        "errors": [
            {
                "name": e["name"],
                "method": e["method"],
                "error": e["error"],
                "occurrences": e["count"],
            }
            for e in picture["errors"]
        ],
        "workers": picture["workers"],
    }


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "name": row["name"],
        "safe_name": row["name"],
        "method": row["method"],
        "num_requests": row.get("requests", 0),
        "num_failures": row.get("failures", 0),
        "median_response_time": row.get("p50", 0.0),
        "avg_response_time": row.get("mean", 0.0),
        "min_response_time": row.get("min", 0.0),
        "max_response_time": row.get("max", 0.0),
        "current_rps": row.get("current_rps", 0.0),
        "current_fail_per_sec": row.get("current_fail_per_s", 0.0),
        "avg_content_length": row.get("size_mean", 0),  # bytes of a response body, on average
    }
    for q, key in _PERCENTILES:
        entry[f"response_time_percentile_{q}"] = row.get(key, 0.0)
    return entry
