"""What a worker's stats export may hold, checked before the master merges it.

`Stats.merge` trusts its input: a string where a count belongs, a histogram
of another layout or a row list of a million entries would crash or bloat the
master halfway through a merge. `check_export` reads the whole export first —
types, ranges, how many rows, error groups and checks, and the header of every
HDR histogram (its layout, and that it inflates to no more than a histogram of
that layout can be) — and raises `ProtocolError` with what is wrong, so the
master drops that worker and merges nothing of the report.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections.abc import Callable
from typing import Any

from hdrh import codec

from yamlswarm.distributed.messages import ProtocolError
from yamlswarm.runtime.hdr import COUNTS_LEN, DIGITS, HIGHEST_US, LOWEST_US
from yamlswarm.runtime.stats import EXPORT_VERSION

MAX_ROWS = 2_000  # distinct request rows of a run (each holds a ~190 kB histogram)
MAX_ERROR_GROUPS = 1_000  # per row and report
MAX_CHECKS = 10_000
MAX_TEXT_CHARS = 10_000  # a row name, an error, an example, a check
MAX_METRICS = 1_000  # custom metrics (the scenario declares them: a few)
_COUNTS_LEN = COUNTS_LEN
# an encoded histogram inflates to its header and at most 9 bytes per counter (varints)
_MAX_PAYLOAD = codec.payload_header_size + 9 * _COUNTS_LEN

__all__ = ["MAX_ROWS", "check_export"]


def check_export(data: Any, known_rows: int = 0, is_known: Callable[[Any], bool] = bool) -> None:
    """Raise ProtocolError unless `data` is a well-formed `Stats.export()`.

    `known_rows` is how many rows the merged stats hold already and `is_known((name,
    method))` whether a row is one of them, so that the run stays within MAX_ROWS.
    """
    if not isinstance(data, dict) or data.get("version") != EXPORT_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise ProtocolError(f"a stats export of version {version!r} (expected {EXPORT_VERSION})")
    for key in ("iterations", "iterations_interrupted", "dropped", "second_failures"):
        _count(data.get(key), key)
    _dist(data.get("second"), "second")
    if data.get("schedule_lag") is not None:
        _dist(data["schedule_lag"], "schedule lag")
    if data.get("generator") is not None:
        _generator(data["generator"])
    _list(data.get("checks"), "checks", MAX_CHECKS)
    for check in data["checks"]:
        if not (isinstance(check, list) and len(check) == 3 and all(map(_text, check))):
            raise ProtocolError("a check that is not [name, method, description]")
    rows = _list(data.get("rows"), "rows", MAX_ROWS)
    new = {(row.get("name"), row.get("method")) for row in rows if isinstance(row, dict)}
    new = {key for key in new if not is_known(key)}
    if known_rows + len(new) > MAX_ROWS:
        raise ProtocolError(f"more than {MAX_ROWS} distinct request rows in the run")
    for row in rows:
        _row(row)
    for metric in _list(data.get("metrics", []), "metrics", MAX_METRICS):
        _metric(metric)


def _metric(metric: Any) -> None:
    """[name, kind, description, data] of `runtime.metrics.MetricsRegistry.export`."""
    if not (isinstance(metric, list) and len(metric) == 4 and _text(metric[0])):
        raise ProtocolError("a custom metric that is not [name, kind, description, data]")
    name, kind, description, data = metric
    where = f"metric {name[:60]!r}"
    if not _text(description):
        raise ProtocolError(f"{where}: a description that is not text")
    if kind == "counter":
        ok = _is_time(data) and data >= 0
    elif kind == "rate":
        ok = isinstance(data, list) and len(data) == 2 and all(map(_is_count, data))
    elif kind == "gauge":
        ok = data is None or (
            isinstance(data, dict)
            and set(data) == {"value", "min", "max", "at"}
            and all(map(_is_time, data.values()))
        )
    elif kind == "trend":
        _dist(data, where)
        ok = True
    else:
        raise ProtocolError(f"{where}: unknown kind {kind!r:.40}")
    if not ok:
        raise ProtocolError(f"{where}: malformed {kind} data")


def _row(row: Any) -> None:
    if not isinstance(row, dict):
        raise ProtocolError("a request row that is not a map")
    if not (_text(row.get("name")) and _text(row.get("method"))):
        raise ProtocolError("a request row without a name and a method")
    where = f"row {row['method']} {row['name'][:60]!r}"
    _count(row.get("failures"), f"{where}: failures")
    _dist(row.get("lat"), f"{where}: latency")
    if row.get("fail") is not None:
        _dist(row["fail"], f"{where}: latency of failures")
    if row.get("service") is not None:
        _dist(row["service"], f"{where}: service time")
    for group in _list(row.get("errors"), f"{where}: errors", MAX_ERROR_GROUPS):
        if not _error_group(group):
            raise ProtocolError(f"{where}: an error group that is not [error, count, first, last]")


def _generator(report: Any) -> None:
    """A worker's load-generator health: a small map of numbers, flags and warnings."""
    if not isinstance(report, dict) or len(report) > 20:
        raise ProtocolError("a generator report that is not a small map")
    for key, value in report.items():
        ok = _text(key) and (
            _is_time(value)
            or isinstance(value, bool)
            or (isinstance(value, dict) and len(value) <= 10 and all(map(_is_time, value.values())))
            or (isinstance(value, list) and len(value) <= 10 and all(map(_text, value)))
        )
        if not ok:
            raise ProtocolError(f"generator: {key!r:.40} is not a number, flag or short list")


def _error_group(group: Any) -> bool:
    if not (isinstance(group, list) and len(group) == 5):
        return False
    error, count, first, last, example = group
    return (
        _text(error)
        and _is_count(count)
        and _is_time(first)
        and _is_time(last)
        and (example is None or _text(example))
    )


def _dist(dist: Any, where: str) -> None:
    if not isinstance(dist, dict):
        raise ProtocolError(f"{where}: not a histogram")
    for key in ("n", "sum_us", "min_us", "max_us"):
        _count(dist.get(key), f"{where}: {key}")
    if not dist["n"]:
        return
    if not LOWEST_US - 1 <= dist["min_us"] <= dist["max_us"] <= HIGHEST_US:
        raise ProtocolError(f"{where}: min and max out of range")
    _histogram(dist.get("hist"), where)


def _histogram(blob: Any, where: str) -> None:
    """The encoded histogram is of the layout of ours and inflates to a bounded size."""
    if not isinstance(blob, bytes):
        raise ProtocolError(f"{where}: the histogram is not bytes")
    try:
        raw = base64.b64decode(blob, validate=True)
        header = codec.ExternalHeader.from_buffer_copy(raw[: codec.ext_header_size])
        inflater = zlib.decompressobj()
        payload = inflater.decompress(raw[codec.ext_header_size :], _MAX_PAYLOAD)
        layout = codec.PayloadHeader.from_buffer_copy(payload[: codec.payload_header_size])
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise ProtocolError(f"{where}: not an HDR histogram ({exc})") from None
    if header.length != len(raw) - codec.ext_header_size or inflater.unconsumed_tail:
        raise ProtocolError(f"{where}: an HDR histogram of the wrong size")
    ours = (LOWEST_US, HIGHEST_US, DIGITS)
    theirs = (
        layout.lowest_trackable_value,
        layout.highest_trackable_value,
        layout.significant_figures,
    )
    if theirs != ours:
        raise ProtocolError(f"{where}: an HDR histogram of another layout {theirs}")


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError(f"{where}: not a list")
    if len(value) > limit:
        raise ProtocolError(f"{where}: {len(value)} entries, more than {limit}")
    return value


def _count(value: Any, where: str) -> None:
    if not _is_count(value):
        raise ProtocolError(f"{where} is {value!r:.40}, not a count")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT_CHARS
