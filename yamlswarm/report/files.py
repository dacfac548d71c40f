"""Output files of a run: `--json`, `--csv PREFIX` (stats, failures, history) and `--junit`."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from yamlswarm.errors import UsageError
from yamlswarm.report.table import AGGREGATED, LATENCY_HEADERS, threshold_value
from yamlswarm.result import PERCENTILE_KEYS, Latency, RunResult, TimelineRow

STATS_CSV_HEADER = [
    "Name",
    "Method",
    "Requests",
    "Failures",
    "Failure %",
    "RPS",
    *(f"{h} ms" for h in LATENCY_HEADERS),
]
FAILURES_CSV_HEADER = ["Name", "Method", "Error", "Count"]
HISTORY_CSV_HEADER = list(TimelineRow.__dataclass_fields__)
JUNIT_SUITE = "yamlswarm"


def write_json(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write the result as one JSON object (SPEC section 6)."""
    with open_for_write(path) as out:
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")


def write_csv(result: RunResult, prefix: str | os.PathLike[str]) -> list[Path]:
    """Write PREFIX_stats.csv, PREFIX_failures.csv and PREFIX_history.csv; return their paths."""
    base = os.fspath(prefix)
    files = [
        (Path(f"{base}_stats.csv"), STATS_CSV_HEADER, _stats_rows(result)),
        (
            Path(f"{base}_failures.csv"),
            FAILURES_CSV_HEADER,
            ([e.name, e.method, e.error, e.count] for e in result.errors),
        ),
        (
            Path(f"{base}_history.csv"),
            HISTORY_CSV_HEADER,
            ([getattr(t, k) for k in HISTORY_CSV_HEADER] for t in result.timeline),
        ),
    ]
    for path, header, rows in files:
        _write_csv_file(path, header, rows)
    return [path for path, _, _ in files]


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
            measured = threshold_value(threshold.expr, threshold.value)
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


def _stats_rows(result: RunResult) -> Iterator[list[Any]]:
    for row in result.requests:
        yield _stats_row(row.name, row.method, row.requests, row.failures, row.rps, row.latency_ms)
    t = result.totals
    yield _stats_row(AGGREGATED, "", t.requests, t.failures, t.rps, t.latency_ms)


def _stats_row(
    name: str, method: str, requests: int, failures: int, rps: float, latency: Latency
) -> list[Any]:
    pct = round(100.0 * failures / requests, 3) if requests else 0.0
    values = [latency.min, *(getattr(latency, k) for k, _ in PERCENTILE_KEYS), latency.max]
    return [name, method, requests, failures, pct, rps, *values]


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
