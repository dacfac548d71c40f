"""`yamlswarm report`: re-render a saved result and compare two runs row by row."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tabulate import tabulate

from yamlswarm.errors import UsageError
from yamlswarm.report.outputs import requested, write_output
from yamlswarm.report.table import AGGREGATED, number, render
from yamlswarm.report.terminal import one_line, printable
from yamlswarm.result import RowResult, RunResult, Totals
from yamlswarm.runtime.bounded import json_depth_exceeds

__all__ = [
    "Comparison",
    "Delta",
    "RowComparison",
    "compare",
    "load_result",
    "regressions",
    "render_comparison",
    "report_command",
]

DEFAULT_MARK_PCT = (
    10.0  # without --fail-on-regression, changes for the worse beyond this are marked
)


@dataclass(frozen=True, slots=True)
class Metric:
    """A compared number of a row: its key, column title and which direction is better."""

    key: str
    title: str
    higher_is_better: bool
    read: Callable[[RowResult | Totals], float]
    show: Callable[[float], str]


def _pct_text(fraction: float) -> str:
    return "0%" if fraction == 0 else f"{fraction * 100:.3g}%"


METRICS: tuple[Metric, ...] = (
    Metric("rps", "RPS", True, lambda r: r.rps, number),
    Metric("p50", "p50 ms", False, lambda r: r.latency_ms.p50, number),
    Metric("p95", "p95 ms", False, lambda r: r.latency_ms.p95, number),
    Metric("p99", "p99 ms", False, lambda r: r.latency_ms.p99, number),
    Metric("error_rate", "Errors", False, lambda r: r.error_rate, _pct_text),
)
_UNITS = {"p50": " ms", "p95": " ms", "p99": " ms"}


@dataclass(frozen=True, slots=True)
class Delta:
    """One metric of one row in both runs."""

    metric: Metric
    base: float
    new: float

    @property
    def change_pct(self) -> float:
        """Relative change in percent (+inf when it rose from 0, 0 when both are 0)."""
        if self.base == 0:
            return 0.0 if self.new == 0 else math.copysign(math.inf, self.new)
        return 100.0 * (self.new - self.base) / abs(self.base)

    @property
    def worse_pct(self) -> float:
        """How much worse in percent: latency or errors up, rps down (negative: better)."""
        change = self.change_pct
        return -change if self.metric.higher_is_better else change

    def change_text(self) -> str:
        change = self.change_pct
        if math.isinf(change):
            return "new" if change > 0 else "gone"
        return f"{change:+.1f}%"


@dataclass(frozen=True, slots=True)
class RowComparison:
    """A row of both runs; `base` or `new` is None for a row only one run has."""

    name: str
    method: str
    base: RowResult | Totals | None
    new: RowResult | Totals | None
    deltas: tuple[Delta, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method} {self.name}" if self.method else self.name

    @property
    def status(self) -> str:
        """ "changed" (in both runs), "added" (only the new one) or "removed"."""
        if self.base is None:
            return "added"
        return "removed" if self.new is None else "changed"


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two runs compared: every row of either, then all requests aggregated."""

    base: RunResult
    new: RunResult
    rows: tuple[RowComparison, ...]
    totals: RowComparison


def compare(base: RunResult, new: RunResult) -> Comparison:
    """Match rows by (name, method); rows of one run only are kept as added/removed."""
    old_rows = {(r.name, r.method): r for r in base.requests}
    new_keys = {(r.name, r.method) for r in new.requests}
    rows = [_row(r.name, r.method, old_rows.get((r.name, r.method)), r) for r in new.requests]
    rows += [
        _row(r.name, r.method, r, None) for r in base.requests if (r.name, r.method) not in new_keys
    ]
    totals = _row(AGGREGATED, "", base.totals, new.totals)
    return Comparison(base, new, tuple(rows), totals)


def _row(
    name: str, method: str, base: RowResult | Totals | None, new: RowResult | Totals | None
) -> RowComparison:
    deltas: tuple[Delta, ...] = ()
    if base is not None and new is not None:
        deltas = tuple(Delta(m, m.read(base), m.read(new)) for m in METRICS)
    return RowComparison(name, method, base, new, deltas)


def regressions(cmp: Comparison, pct: float) -> list[str]:
    """One line per metric of a row (or of the aggregate) that got worse by more than `pct` %."""
    out = []
    for row in (*cmp.rows, cmp.totals):
        if not _measured(row):
            continue
        for delta in row.deltas:
            if delta.worse_pct > pct:
                unit = _UNITS.get(delta.metric.key, "")
                name = "error rate" if delta.metric.key == "error_rate" else delta.metric.key
                out.append(
                    f"{row.label}: {name} {delta.metric.show(delta.base)}{unit} → "
                    f"{delta.metric.show(delta.new)}{unit} ({delta.change_text()})"
                )
    return out


def _measured(row: RowComparison) -> bool:
    """Both runs made requests on this row (a row without any has no numbers to compare)."""
    return bool(
        row.base is not None and row.new is not None and row.base.requests and row.new.requests
    )


def render_comparison(cmp: Comparison, fail_on_regression: float | None) -> str:
    """The comparison as text: a table of "base → new change" cells, then the regressions."""
    mark = DEFAULT_MARK_PCT if fail_on_regression is None else fail_on_regression
    headers = ["Name", "Method", "Requests", *(m.title for m in METRICS)]
    table = tabulate(
        [_cells(row, mark) for row in (*cmp.rows, cmp.totals)],
        headers=headers,
        tablefmt="simple",
        disable_numparse=True,
        colalign=("left", "left", *("right",) * (len(headers) - 2)),
    )
    parts = [_title(cmp), table]
    found = regressions(cmp, mark)
    if fail_on_regression is None:
        parts.append(f"▲/▼ mark a change for the worse beyond {mark:g}% ({len(found)} found).")
    elif found:
        lines = "\n".join(f"  {line}" for line in found)
        parts.append(f"{len(found)} regression(s) beyond {mark:g}%:\n{lines}")
    else:
        parts.append(f"No regression beyond {mark:g}%.")
    return printable("\n\n".join(parts))  # names come from result files


def _title(cmp: Comparison) -> str:
    base, new = cmp.base, cmp.new
    line = f"Comparing {new.scenario} of {new.started_at} (new) with {base.scenario} of {base.started_at} (base)"
    if base.scenario != new.scenario:
        line += "\nnote: the two results are of different scenarios"
    return line


def _cells(row: RowComparison, mark: float) -> list[str]:
    if row.status != "changed":
        side = row.new if row.new is not None else row.base
        assert side is not None
        values = [str(side.requests), *(m.show(m.read(side)) for m in METRICS)]
        return [one_line(f"{row.name} ({row.status})"), one_line(row.method), *values]
    assert row.base is not None and row.new is not None
    requests = f"{row.base.requests} → {row.new.requests}"
    measured = _measured(row)
    return [
        one_line(row.name),
        one_line(row.method),
        requests,
        *(_delta_cell(d, mark if measured else None) for d in row.deltas),
    ]


def _delta_cell(delta: Delta, mark: float | None) -> str:
    text = f"{delta.metric.show(delta.base)} → {delta.metric.show(delta.new)}"
    if delta.base == delta.new:
        return text
    change = delta.change_text()
    if mark is not None and delta.worse_pct > mark:
        arrow = "▲" if delta.new > delta.base else "▼"
        return f"{text} {arrow} {change}"
    return f"{text} {change}"


RESULT_MAX_DEPTH = 64  # a result nests a few levels; anything deeper is not one


def load_result(path: str | os.PathLike[str]) -> RunResult:
    """Read a `--json` result; a missing file, bad JSON or another JSON file is a UsageError."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not a yamlswarm result (not a UTF-8 text file)") from None
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    if json_depth_exceeds(text.encode("utf-8"), RESULT_MAX_DEPTH):
        raise UsageError(
            f"{source}: not a yamlswarm result (JSON nested more than {RESULT_MAX_DEPTH} deep)"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:  # invalid JSON that the depth scan could not judge exactly
        raise UsageError(f"{source}: not a yamlswarm result (JSON nested too deep)") from None
    return RunResult.from_dict(data, source=source)


def report_command(
    result_path: str | os.PathLike[str],
    outputs: Mapping[str, Path],
    compare_path: str | os.PathLike[str] | None,
    fail_on_regression: float | None,
    out: TextIO,
) -> int:
    """`yamlswarm report`: print the table (or the comparison), write `outputs`; the exit code.

    Unlike a run, a report stops at the first output that cannot be written (exit 2).
    """
    if fail_on_regression is not None:
        if compare_path is None:
            raise UsageError("--fail-on-regression needs --compare BASE.json")
        if fail_on_regression < 0 or math.isnan(fail_on_regression):
            raise UsageError(
                f"--fail-on-regression: {fail_on_regression:g} is not a percentage >= 0"
            )
    result = load_result(result_path)
    base = load_result(compare_path) if compare_path is not None else None
    exit_code = 0
    if base is None:
        print(render(result), file=out)
    else:
        comparison = compare(base, result)
        print(render_comparison(comparison, fail_on_regression), file=out)
        if fail_on_regression is not None and regressions(comparison, fail_on_regression):
            exit_code = 1
    for fmt, target in requested(outputs):
        print(write_output(fmt, result, target), file=out)
    out.flush()
    return exit_code
