"""Output files of a run: `--json`, `--csv PREFIX` (Locust's CSV files) and `--junit`."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from yamlswarm.errors import UsageError
from yamlswarm.report.table import AGGREGATED, LATENCY_HEADERS, threshold_value
from yamlswarm.result import PERCENTILE_KEYS, STEP_METHODS, RowResult, RunResult, Totals

# Locust's percentiles of a row, as fractions, and the names of their CSV columns
LOCUST_QUANTILES: tuple[float, ...] = (
    0.5,
    0.66,
    0.75,
    0.8,
    0.9,
    0.95,
    0.98,
    0.99,
    0.999,
    0.9999,
    1.0,
)


def percent_label(q: float) -> str:
    """Locust's name of a percentile column: 0.5 -> "50%", 0.999 -> "99.9%", 1.0 -> "100%"."""
    return f"{q * 100:.10g}%"


LOCUST_PERCENTILES = [percent_label(q) for q in LOCUST_QUANTILES]
# PREFIX_stats.csv and PREFIX_transactions.csv: Locust's columns in Locust's order, then
# yamlswarm's own (the columns of its final table, latencies exact in ms)
STATS_CSV_HEADER = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    *LOCUST_PERCENTILES,
    "Method",
    "Requests",
    "Failures",
    "Failure %",
    "RPS",
    *(f"{h} ms" for h in LATENCY_HEADERS),
]
FAILURES_CSV_HEADER = [
    *("Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"),
    *("Count", "Example"),  # yamlswarm's: Count as before (= Occurrences), the first message
]
EXCEPTIONS_CSV_HEADER = ["Count", "Message", "Traceback", "Nodes"]
# PREFIX_metrics.csv: one row per custom metric; a kind leaves the columns it lacks empty
# (counter: value, rate; gauge: value, min, max; rate: value, passes, fails; trend: the rest)
METRICS_CSV_COLUMNS = (
    ("Value", "value"),
    ("Rate", "rate"),
    ("Passes", "passes"),
    ("Fails", "fails"),
    ("Count", "count"),
    ("Mean", "mean"),
    ("Min", "min"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("Max", "max"),
)
METRICS_CSV_HEADER = ["Name", "Kind", *(header for header, _ in METRICS_CSV_COLUMNS)]
JUNIT_SUITE = "yamlswarm"


def write_json(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write the result as one JSON object (SPEC section 6)."""
    with open_for_write(path) as out:
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")


def write_csv(result: RunResult, prefix: str | os.PathLike[str]) -> list[Path]:
    """Write Locust's CSV files and PREFIX_transactions.csv; return the paths written.

    PREFIX_stats.csv has the request rows and `Aggregated` (so its rows add up to
    it), PREFIX_transactions.csv the FLOW, GROUP and other step rows,
    PREFIX_failures.csv and PREFIX_exceptions.csv (errors of `call:` hooks) the
    error groups, and PREFIX_metrics.csv, when the scenario declares custom metrics
    (`metrics:`), one row per metric. PREFIX_stats_history.csv is written while the run goes on (by
    the live exports, `yamlswarm.export`); its path is listed when it exists.
    """
    base = os.fspath(prefix)
    requests = [r for r in result.requests if r.method not in STEP_METHODS]
    steps = [r for r in result.requests if r.method in STEP_METHODS]
    duration = result.duration_s
    stats = [*(_stats_row(r, r.name, duration) for r in requests)]
    stats.append(_stats_row(result.totals, AGGREGATED, duration, method=""))
    files = [
        (Path(f"{base}_stats.csv"), STATS_CSV_HEADER, stats),
        (Path(f"{base}_failures.csv"), FAILURES_CSV_HEADER, _failure_rows(result)),
        (Path(f"{base}_exceptions.csv"), EXCEPTIONS_CSV_HEADER, _exception_rows(result)),
        (
            Path(f"{base}_transactions.csv"),
            STATS_CSV_HEADER,
            [_stats_row(r, r.name, duration) for r in steps],
        ),
    ]
    if result.metrics:
        files.append((Path(f"{base}_metrics.csv"), METRICS_CSV_HEADER, metric_rows(result.metrics)))
    for path, header, rows in files:
        _write_csv_file(path, header, rows)
    written = [path for path, _, _ in files]
    history = Path(f"{base}_stats_history.csv")
    return [*written[:1], history, *written[1:]] if history.exists() else written


def attach_percentiles(result: RunResult, stats: Any) -> None:
    """Give each row of `result` (and its totals) Locust's percentiles, from the live `stats`
    (`runtime.stats.Stats`), for the CSV: the result's own `latency_ms` lacks 66%, 75%, ..."""
    for row in result.requests:
        live = stats.rows.get((row.name, row.method))
        if live is not None and live.lat.n:
            row.percentiles_ms = _percentiles_of(live.lat)
    if result.totals.requests:
        result.totals.percentiles_ms = _percentiles_of(stats.aggregate()[0])


def _percentiles_of(dist: Any) -> dict[str, float]:
    values = dist.percentiles_us([q * 100.0 for q in LOCUST_QUANTILES])
    return {
        label: round(us / 1000.0, 3) for label, us in zip(LOCUST_PERCENTILES, values, strict=True)
    }


def _locust_percentiles(row: RowResult | Totals) -> list[Any]:
    """Locust's percentile columns: whole milliseconds, "N/A" for a row without requests."""
    if not row.requests:
        return ["N/A"] * len(LOCUST_PERCENTILES)
    known = row.percentiles_ms or {}
    lat = row.latency_ms
    fallback = {"50%": lat.p50, "90%": lat.p90, "95%": lat.p95, "99%": lat.p99}
    fallback.update({"99.9%": lat.p99_9, "100%": lat.max})
    out: list[Any] = []
    for label in LOCUST_PERCENTILES:
        value = known.get(label, fallback.get(label))
        out.append("N/A" if value is None else round(value))
    return out


def _stats_row(
    row: RowResult | Totals, name: str, duration_s: float, method: str | None = None
) -> list[Any]:
    lat = row.latency_ms
    method = row.method if method is None and isinstance(row, RowResult) else (method or "")
    failures_per_s = round(row.failures / duration_s, 3) if duration_s > 0 else 0.0
    pct = round(100.0 * row.failures / row.requests, 3) if row.requests else 0.0
    exact = [lat.min, *(getattr(lat, k) for k, _ in PERCENTILE_KEYS), lat.max]
    return [
        *(method, name, row.requests, row.failures, round(lat.p50), lat.mean, lat.min, lat.max),
        *(round(row.mean_size_bytes), row.rps, failures_per_s),  # Locust's: whole bytes
        *_locust_percentiles(row),
        *(method, row.requests, row.failures, pct, row.rps, *exact),
    ]


def metric_rows(metrics: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """The rows of PREFIX_metrics.csv: name, kind, then the numbers its kind has."""
    return [
        [name, values.get("kind", ""), *(values.get(key, "") for _, key in METRICS_CSV_COLUMNS)]
        for name, values in sorted(metrics.items())
    ]


def _failure_rows(result: RunResult) -> Iterator[list[Any]]:
    started = _epoch(result.started_at)
    for e in result.errors:
        first, last = _utc(started, e.first_seen), _utc(started, e.last_seen)
        yield [e.method, e.name, e.error, e.count, first, last, e.count, e.example or ""]


def _exception_rows(result: RunResult) -> Iterator[list[Any]]:
    """Errors raised by hook functions (`call:` steps), as Locust lists exceptions."""
    for row in result.requests:
        if row.method != "CALL" or not row.failures:
            continue
        yield [row.failures, f"{row.name}: a hook function raised", "", "local"]


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _utc(started: float | None, offset: float) -> str:
    if started is None:
        return ""
    stamp = datetime.fromtimestamp(started + offset, tz=timezone.utc)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def write_junit(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write a JUnit XML suite: one test case per threshold and per check."""
    suite = ET.Element(
        "testsuite", name=JUNIT_SUITE, time=f"{result.duration_s:.3f}", timestamp=result.started_at
    )
    for threshold in result.thresholds:
        case = ET.SubElement(
            suite, "testcase", classname=f"{JUNIT_SUITE}.thresholds", name=threshold.expr, time="0"
        )
        if not threshold.passed:
            measured = threshold_value(threshold.expr, threshold.value, result.metrics)
            failure = ET.SubElement(
                case, "failure", type="threshold", message=f"measured {measured}"
            )
            failure.text = f"{threshold.expr}: measured {measured}"
    for check in result.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{JUNIT_SUITE}.checks",
            name=f"{check.method} {check.name}: {check.check}",
            time="0",
        )
        if check.failures:
            message = f"failed {check.failures} time{'s' if check.failures != 1 else ''}"
            if check.messages:
                message += ": " + check.messages[0]
            failure = ET.SubElement(case, "failure", type="check", message=message)
            failure.text = "\n".join([message, *check.messages[1:]])
    cases = len(result.thresholds) + len(result.checks)
    failed = sum(not t.passed for t in result.thresholds) + sum(
        c.failures > 0 for c in result.checks
    )
    suite.set("tests", str(cases))
    suite.set("failures", str(failed))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name=JUNIT_SUITE, tests=str(cases), failures=str(failed))
    root.append(suite)
    ET.indent(root)
    with open_for_write(path) as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode"))
        out.write("\n")


def _write_csv_file(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    with open_for_write(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


@contextmanager
def open_for_write(path: str | os.PathLike[str], newline: str | None = None) -> Iterator[IO[str]]:
    """Write `path` atomically, creating parent directories; OS errors become UsageError.

    The text goes to a temporary file beside `path`, flushed to disk, which then
    replaces `path` in one step (`os.replace`): a write that fails half-way (a
    full disk, a directory that cannot be written) leaves the previous file as it
    was, or no file, and no temporary file behind.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp, fd = _temp_beside(target)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    try:
        with open(fd, "w", encoding="utf-8", newline=newline) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except OSError as exc:
        _remove(temp)
        raise _cannot_write(target, exc) from None
    except BaseException:
        _remove(temp)
        raise


def _temp_beside(target: Path) -> tuple[Path, int]:
    """A new, empty file in the directory of `target`, with the mode `target` has or would get."""
    for _ in range(100):
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            os.chmod(fd, stat.S_IMODE(target.stat().st_mode))  # keep the mode of the file replaced
        except OSError:
            pass  # no file yet: the mode the umask gives
        return temp, fd
    raise FileExistsError(f"no free temporary name beside {target}")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _cannot_write(target: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {target}: {exc.strerror or exc}")
