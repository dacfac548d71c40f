"""The final table printed after a run: request rows, errors, thresholds and a summary line.

Row names, errors and examples can hold what the target sent: every cell goes
through `terminal.one_line`, so no control character reaches the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tabulate import tabulate

from yamlswarm.report.terminal import one_line, printable
from yamlswarm.result import PERCENTILE_KEYS, Latency, RowResult, RunResult, Totals
from yamlswarm.thresholds import parse_threshold
from yamlswarm.units import format_duration

AGGREGATED = "Aggregated"
LATENCY_HEADERS = ["Min", "p50", "p90", "p95", "p99", "p99.9", "Max"]
STATS_HEADERS = ["Name", "Method", "Requests", "Failures", "RPS", *LATENCY_HEADERS]
_LATENCY_METRIC = re.compile(r"^(failed\.)?(p\d+(\.\d+)?|avg|min|max)$")
_METRIC = re.compile(
    r"(?P<metric>(?:failed\.)?(?:p\d+(?:\.\d+)?|avg|min|max)"
    r"|rps|error_rate|requests|failures|dropped|iterations)"
    r"\s*(?:<=|>=|==|!=|<|>)"
)


def render(result: RunResult) -> str:
    """The whole final report as text."""
    parts = [_stats_table(result)]
    if result.totals.failures_latency_ms is not None:
        parts.append(_failed_table(result))
    if any(r.service_ms is not None for r in result.requests):
        parts.append(_service_table(result))
    if result.errors:
        parts.append(_errors_table(result))
    if result.metrics:
        parts.append(metrics_table(result.metrics))
    if result.thresholds:
        parts.append(_thresholds_table(result))
    parts.append("\n".join([*health_lines(result), summary_line(result)]))
    return printable("\n\n".join(parts))  # the cells are escaped already; this is a safety net


def _table(rows: list[list[str]], headers: list[str], colalign: tuple[str, ...]) -> str:
    """A tabulate "simple" table of text cells, each escaped for the terminal."""
    return tabulate(
        [[one_line(cell) for cell in row] for row in rows],
        headers=headers,
        tablefmt="simple",
        disable_numparse=True,
        colalign=colalign,
    )


def number(value: float) -> str:
    """A readable number with at least 3 significant digits: 0.412, 12.3, 1530."""
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def percent(part: int, whole: int) -> str:
    """`part` as a percentage of `whole`, never shown as 0% when part > 0."""
    if not part or not whole:
        return "0%"
    pct = 100.0 * part / whole
    if pct < 0.01:
        return "<0.01%"
    return f"{pct:.3g}%"


def latency_cells(latency: Latency) -> list[str]:
    values = [latency.min, *(getattr(latency, key) for key, _ in PERCENTILE_KEYS), latency.max]
    return [number(v) for v in values]


def _stats_table(result: RunResult) -> str:
    rows = [_row_cells(r, r.name, r.method) for r in result.requests]
    rows.append(_row_cells(result.totals, AGGREGATED, ""))
    headers = [*STATS_HEADERS[:5], *(f"{h} ms" for h in LATENCY_HEADERS)]
    return _table(rows, headers, ("left", "left", *("right",) * 10))


def _row_cells(row: RowResult | Totals, name: str, method: str) -> list[str]:
    failures = f"{row.failures} ({percent(row.failures, row.requests)})"
    return [
        name,
        method,
        str(row.requests),
        failures,
        number(row.rps),
        *latency_cells(row.latency_ms),
    ]


def _service_table(result: RunResult) -> str:
    rows = [
        [r.name, r.method, *latency_cells(r.service_ms)]
        for r in result.requests
        if r.service_ms is not None
    ]
    if result.totals.service_ms is not None:
        rows.append([AGGREGATED, "", *latency_cells(result.totals.service_ms)])
    headers = ["Service time", "Method", *(f"{h} ms" for h in LATENCY_HEADERS)]
    return _table(rows, headers, ("left", "left", *("right",) * 7))


def _failed_table(result: RunResult) -> str:
    """Latency of the failed requests, apart: the main table's percentiles are of successes."""
    rows = [
        [r.name, r.method, str(r.failures), *latency_cells(r.failures_latency_ms)]
        for r in result.requests
        if r.failures_latency_ms is not None
    ]
    failed = result.totals.failures_latency_ms
    if failed is not None:
        rows.append([AGGREGATED, "", str(result.totals.failures), *latency_cells(failed)])
    headers = ["Failed requests", "Method", "Failures", *(f"{h} ms" for h in LATENCY_HEADERS)]
    return _table(rows, headers, ("left", "left", *("right",) * 8))


def health_lines(result: RunResult) -> list[str]:
    """Footer lines: the open model's schedule lag, the load generator's own health."""
    lines = []
    lag = result.schedule_lag_ms
    if lag:
        lines.append(f"Schedule lag (iteration start − due): {_p50_p99_max(lag)}")
    gen = result.generator
    if gen:
        loop = gen.get("loop_lag_ms") or {}
        text = (
            f"Load generator: CPU {gen.get('cpu_pct', 0):.0f}%, event-loop lag {_p50_p99_max(loop)}"
        )
        delay = gen.get("client_delay_ms")
        if delay:
            text += f", client delay p50 {number(delay['p50'])} ms p99 {number(delay['p99'])} ms"
        lines.append(text)
        for warning in gen.get("warnings") or ():
            lines.append(f"warning: {warning}")
    return lines


def _p50_p99_max(summary: dict) -> str:
    return (
        f"p50 {number(summary.get('p50', 0))} ms, p99 {number(summary.get('p99', 0))} ms, "
        f"max {number(summary.get('max', 0))} ms"
    )


_EXAMPLE_WIDTH = 60


def _errors_table(result: RunResult) -> str:
    rows = [
        [
            f"{e.method} {e.name}".strip(),
            e.error,
            str(e.count),
            _seen(e.first_seen),
            _seen(e.last_seen),
            _example(e.example),
        ]
        for e in result.errors
    ]
    return _table(
        rows,
        ["Row", "Error", "Count", "First", "Last", "Example"],
        ("left", "left", "right", "right", "right", "left"),
    )


def _seen(seconds: float | None) -> str:
    """Seconds since the start, as the timeline counts them."""
    return "" if seconds is None else f"{seconds:.1f}s"


def _example(example: str | None) -> str:
    """The head of an example response on one line (status and start of the body)."""
    if not example:
        return ""
    flat = one_line(" ".join(example.split()))
    return flat if len(flat) <= _EXAMPLE_WIDTH else flat[: _EXAMPLE_WIDTH - 1] + "…"


METRICS_HEADERS = ["Metric", "Kind", "Value", "Details"]
_METRIC_DETAILS = {  # the numbers shown beside a metric's value, per kind
    "counter": ("rate",),
    "gauge": ("min", "max"),
    "rate": ("passes", "fails"),
    "trend": ("count", "min", "p50", "p90", "p95", "p99", "max"),
}


def metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """The custom metrics: one row each, its value (a trend's mean) and its other numbers."""
    rows = []
    for name, shape in metrics.items():
        kind = str(shape.get("kind", ""))
        main = shape.get("mean" if kind == "trend" else "value")
        value = _metric_number(main, kind == "rate")
        if kind == "trend" and main is not None:
            value = f"mean {value}"
        details = [
            f"{key} {_metric_number(shape.get(key), False)}{'/s' if key == 'rate' else ''}"
            for key in _METRIC_DETAILS.get(kind, ())
            if shape.get(key) is not None
        ]
        rows.append([name, kind, value, "  ".join(details)])
    return _table(rows, METRICS_HEADERS, ("left", "left", "right", "left"))


def _metric_number(value: Any, as_percent: bool) -> str:
    if value is None:
        return "no data"
    if as_percent:
        return f"{value * 100:.4g}%"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return number(float(value))


def _thresholds_table(result: RunResult) -> str:
    rows = [
        [t.expr, "pass" if t.passed else "FAIL", threshold_value(t.expr, t.value, result.metrics)]
        for t in result.thresholds
    ]
    return _table(rows, ["Threshold", "Result", "Measured"], ("left", "left", "right"))


def threshold_value(
    expr: str, value: float | None, metrics: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """The measured value of a threshold in its metric's unit (ms, %, or plain); `metrics`,
    the result's custom metrics: a threshold on one of them is shown in its own terms."""
    if value is None:
        return "no data"
    custom = _custom_threshold(expr, metrics or {})
    if custom is not None:
        kind, stat = custom
        return _metric_number(value, kind == "rate" and stat == "value")
    match = _METRIC.search(expr)
    metric = match.group("metric") if match else ""
    if _LATENCY_METRIC.match(metric):
        return f"{number(value)} ms"
    if metric == "error_rate":
        return f"{value * 100:.3g}%"
    if metric in ("requests", "failures", "dropped", "iterations"):
        return str(int(value))
    return number(value)


def _custom_threshold(
    expr: str, metrics: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str] | None:
    """(kind, stat) when `expr` is a threshold on one of `metrics`, else None."""
    if not metrics:
        return None
    kinds = {name: str(shape.get("kind", "")) for name, shape in metrics.items()}
    try:
        parsed = parse_threshold(expr, kinds)
    except ValueError:
        return None
    return (kinds[parsed.row], parsed.metric) if parsed.row in kinds else None


def summary_line(result: RunResult) -> str:
    """`Ran 1m30s, 1234 iterations (3 cut short by the stop), 5 dropped (max_users busy)`."""
    iterations = f"{result.iterations} iterations"
    if result.iterations_interrupted:
        iterations += f" ({result.iterations_interrupted} cut short by the stop)"
    parts = [f"Ran {format_duration(result.duration_s)}", iterations]
    if result.dropped:
        parts.append(f"{result.dropped} dropped (max_users busy)")
    parts.extend(
        f"users stopped: {count} ({one_line(reason)})"
        for reason, count in result.users_stopped.items()
    )
    if result.test_stopped:
        parts.append(f"test stopped ({one_line(result.test_stopped)})")
    line = ", ".join(parts)
    if result.aborted:
        line += f"; aborted: {one_line(result.aborted)}"
    elif result.interrupted:
        line += "; interrupted"
    return line
