"""`--out influxdb=URL`: InfluxDB line protocol over HTTP, every second.

The URL is the write endpoint: InfluxDB 1.x `http://HOST:8086/write?db=DB`
(`http://HOST:8086?db=DB` is completed to it) or 2.x
`http://HOST:8086/api/v2/write?org=ORG&bucket=BUCKET`; a token from
`YAMLSWARM_INFLUXDB_TOKEN` goes in `Authorization: Token ...`. Timestamps are
in milliseconds (`precision=ms` is added).

Measurements: `yamlswarm_requests` and `yamlswarm_transactions` (tags name,
method, scenario, run_id; fields `requests`, `failures` — exact running totals
— and, for a second with requests, `window_requests`, `window_failures`,
`mean`, `p50`, `p90`, `p95`, `p99`, `max` in ms), `yamlswarm_totals` (all
requests, the same fields), `yamlswarm_users` (`users`) and
`yamlswarm_metrics` (tags `metric` and `kind`, a float field per number of the
metric: counter `value`, `rate`; gauge `value`, `min`, `max`; rate `value`,
`passes`, `fails`; trend `count`, `mean`, `min`, `p50` .. `p99`, `max` over the run,
and for a second with values `window_count`, `window_mean`, `window_p50` ..
`window_max`, those of that second).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from yamlswarm.export.http import post
from yamlswarm.export.sample import RowSample, Sample

__all__ = ["TOKEN_ENV", "InfluxWrite", "line_protocol", "write_url"]

TOKEN_ENV = "YAMLSWARM_INFLUXDB_TOKEN"
_MEASUREMENT = {"request": "yamlswarm_requests", "transaction": "yamlswarm_transactions"}
_WINDOW_FIELDS = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


def write_url(url: str) -> str:
    """The write URL with `precision=ms`; ValueError when it names no database or bucket."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    query = dict(parse_qsl(parts.query))
    path = parts.path.rstrip("/")
    if path in ("", "/write"):
        if not query.get("db"):
            raise ValueError(f"{url!r} names no database: add ?db=NAME (InfluxDB 1.x)")
        path = "/write"
    elif path == "/api/v2/write":
        if not query.get("bucket"):
            raise ValueError(f"{url!r} names no bucket: add ?org=ORG&bucket=NAME (InfluxDB 2.x)")
    else:
        raise ValueError(
            f"{url!r}: the path is neither /write?db=DB (1.x) nor /api/v2/write?bucket=B (2.x)"
        )
    query["precision"] = "ms"
    return urlunsplit(parts._replace(path=path, query=urlencode(query)))


def _escape(text: str, chars: str = ", =") -> str:
    text = text.replace("\\", "\\\\")
    for ch in chars:
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", "\\n")


def _tags(tags: Mapping[str, str]) -> str:
    # an empty tag value is not allowed in line protocol: such a tag is left out
    return "".join(f",{_escape(k)}={_escape(v)}" for k, v in sorted(tags.items()) if v)


def _row_fields(row: RowSample) -> str:
    fields = [f"requests={row.requests}i", f"failures={row.failures}i"]
    window = row.window
    if window is not None:
        fields += [f"window_requests={window.requests}i", f"window_failures={window.failures}i"]
        fields.append(f"mean={window.mean!r}")
        fields += [f"{key}={window.quantiles[q]!r}" for key, q in _WINDOW_FIELDS]
    return ",".join(fields)


def line_protocol(sample: Sample, scenario: str, run_id: str) -> str:
    """The lines of one second (newline-terminated)."""
    ts = int(sample.wall * 1000)
    base = {"scenario": scenario, "run_id": run_id}
    lines = []
    for row in sample.rows:
        tags = _tags({"name": row.name, "method": row.method, **base})
        lines.append(f"{_MEASUREMENT[row.kind]}{tags} {_row_fields(row)} {ts}")
    lines.append(f"yamlswarm_totals{_tags(base)} {_row_fields(sample.total)} {ts}")
    lines.append(f"yamlswarm_users{_tags(base)} users={sample.users}i {ts}")
    for name, stats in sorted(sample.metrics.items()):
        window = stats.get("window") or {}
        numbers = [*stats.items(), *((f"window_{k}", v) for k, v in window.items())]
        fields = ",".join(
            f"{_escape(k)}={float(v)!r}"
            for k, v in sorted(numbers)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        )
        if fields:
            tags = _tags({"metric": name, "kind": str(stats.get("kind", "")), **base})
            lines.append(f"yamlswarm_metrics{tags} {fields} {ts}")
    return "".join(line + "\n" for line in lines)


class InfluxWrite:
    """Delivers batches of samples to one InfluxDB write URL (from the export thread)."""

    def __init__(self, url: str, scenario: str, run_id: str) -> None:
        self.url = write_url(url)
        self.scenario = scenario
        self.run_id = run_id
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        token = os.environ.get(TOKEN_ENV)
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def __call__(self, batch: list[Sample]) -> None:
        body = "".join(line_protocol(s, self.scenario, self.run_id) for s in batch)
        post(self.url, body.encode("utf-8"), self.headers)
