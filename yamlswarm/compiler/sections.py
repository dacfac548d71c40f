"""Compilation of the scenario sections that hold no steps: load model, data feeds, thresholds."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yamlswarm.compiler.context import Context, JsonPath
from yamlswarm.plan import (
    ArrivalLoad,
    ClosedLoad,
    DataFeed,
    IterationsLoad,
    Load,
    Phase,
    Stage,
    StagesLoad,
    Threshold,
)
from yamlswarm.scenario.loader import read_regular_file
from yamlswarm.thresholds import parse_threshold

DEFAULT_MAX_USERS = 100
MAX_CSV_BYTES = 100 * 1024 * 1024  # a data file is read whole into memory
# keys each model forbids, checked in this order (the model's own key named in the message)
_FORBIDDEN = {
    "arrival": ("users", "stages", "spawn_rate", "duration"),
    "stages": ("users", "spawn_rate", "duration", "max_users"),
    "closed": ("max_users",),
    "iterations": ("max_users",),
}

# ---------------------------------------------------------------- load


def compile_load(ctx: Context, raw: Any) -> tuple[Load, int | None]:
    """The workload model and the iterations cap (`iterations:` beside another model)."""
    path: JsonPath = ("load",)
    load = ctx.mapping(path, raw)
    model = _model(load)
    _check_exclusive(ctx, load, model)
    iterations = load.get("iterations")
    cap = None
    if iterations is not None and model != "iterations":
        cap = ctx.integer((*path, "iterations"), iterations, 1, minimum=1)
    source = ctx.source(path)
    if model == "arrival":
        phases = _phases(ctx, load.get("arrival"), (*path, "arrival"))
        max_users = ctx.integer((*path, "max_users"), load.get("max_users"), DEFAULT_MAX_USERS, 1)
        return ArrivalLoad(phases, max_users, source=source), cap
    if model == "stages":
        return StagesLoad(_stages(ctx, load.get("stages"), (*path, "stages")), source=source), cap
    users = ctx.integer((*path, "users"), load.get("users"), 1, minimum=1)
    if model == "iterations":
        total = ctx.integer((*path, "iterations"), iterations, 1, minimum=1)
        return IterationsLoad(total, users, source=source), None
    spawn_rate = ctx.rate((*path, "spawn_rate"), load.get("spawn_rate"), float(users))
    duration = ctx.duration((*path, "duration"), load.get("duration"))
    if duration == 0:
        ctx.error((*path, "duration"), "must be above 0: a run of 0 seconds does nothing")
        duration = None
    return ClosedLoad(
        users, float(users) if spawn_rate is None else spawn_rate, duration, source=source
    ), cap


def _model(load: dict) -> str:
    if "arrival" in load:
        return "arrival"
    if "stages" in load:
        return "stages"
    if "duration" in load or "spawn_rate" in load:
        return "closed"
    return "iterations" if "iterations" in load else "closed"


def _check_exclusive(ctx: Context, load: dict, model: str) -> None:
    for key in _FORBIDDEN[model]:
        if key not in load:
            continue
        if key == "max_users" and model in ("closed", "iterations"):
            message = "exactly one load model: 'max_users' only applies to 'arrival'"
        else:
            message = f"exactly one load model: {model!r} cannot be combined with {key!r}"
        ctx.error(("load", key), message, key=True)


def _stages(ctx: Context, raw: Any, path: JsonPath) -> tuple[Stage, ...]:
    out = []
    for index, item in enumerate(ctx.sequence(path, raw)):
        where = (*path, index)
        stage = ctx.mapping(where, item)
        out.append(
            Stage(
                duration=ctx.seconds((*where, "duration"), stage.get("duration"), 0.0),
                users=ctx.integer((*where, "users"), stage.get("users"), 0),
                spawn_rate=ctx.rate((*where, "spawn_rate"), stage.get("spawn_rate")),
            )
        )
    if not out:
        ctx.error(path, "'stages' needs at least one stage")
    return tuple(out)


def _phases(ctx: Context, raw: Any, path: JsonPath) -> tuple[Phase, ...]:
    problems = len(ctx.problems)
    out = []
    for index, item in enumerate(ctx.sequence(path, raw)):
        where = (*path, index)
        phase = ctx.mapping(where, item)
        out.append(
            Phase(
                duration=ctx.seconds((*where, "duration"), phase.get("duration"), 0.0),
                rate=ctx.rate((*where, "rate"), phase.get("rate"), 0.0) or 0.0,
                ramp_to=ctx.rate((*where, "ramp_to"), phase.get("ramp_to")),
            )
        )
    if not out:
        ctx.error(path, "'arrival' needs at least one phase")
    elif len(ctx.problems) == problems and not any(
        phase.duration and (phase.rate or phase.ramp_to) for phase in out
    ):
        # a phase at rate 0 is a pause (fine), but a schedule of pauses starts nothing
        ctx.error(
            path, "the arrival phases start no iterations: give one a rate or ramp_to above 0"
        )
    return tuple(out)


def check_counts(ctx: Context, load_raw: Any, counts: list[int], all_fixed: bool) -> None:
    """Fixed `count` users must fit in `load.users` when that is written in the scenario."""
    users = load_raw.get("users") if isinstance(load_raw, dict) else None
    if not counts or not isinstance(users, int) or isinstance(users, bool):
        return
    total = sum(counts)
    if total > users or (all_fixed and total != users):
        ctx.error(
            ("load", "users"), f"fixed user counts add up to {total} but load.users is {users}"
        )


# ---------------------------------------------------------------- data feeds


def compile_feed(ctx: Context, name: str, raw: Any) -> DataFeed | None:
    """One `data:` feed with its CSV file loaded now (relative to the scenario file)."""
    path: JsonPath = ("data", name)
    feed = ctx.mapping(path, raw)
    written = feed.get("csv")
    if not isinstance(written, str):
        ctx.error(path, "a data feed needs a 'csv' file")
        return None
    fields = feed.get("fields")
    loaded = _read_csv(ctx, (*path, "csv"), written, fields)
    if loaded is None:
        return None
    columns, rows = loaded
    return DataFeed(
        name=name,
        path=str(ctx.doc.base_dir / written),
        columns=columns,
        rows=rows,
        order=str(feed.get("order", "sequential")),
        per=str(feed.get("per", "user")),
        on_exhausted=str(feed.get("on_exhausted", "recycle")),
        source=ctx.source(path),
    )


def _read_csv(
    ctx: Context, path: JsonPath, written: str, fields: Any
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None:
    file = Path(ctx.doc.base_dir) / written
    try:
        text = read_regular_file(file, MAX_CSV_BYTES).decode("utf-8-sig")
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except FileNotFoundError:
        ctx.error(path, f"CSV file not found: {written}")
        return None
    except IsADirectoryError:
        ctx.error(path, f"CSV file {written} is a directory")
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        ctx.error(path, f"cannot read CSV file {written}: {exc}")
        return None
    except ValueError as exc:  # a FIFO, a device, too large
        ctx.error(path, f"CSV file {written} {exc}")
        return None
    numbered = [(n, row) for n, row in enumerate(lines, start=1) if row]
    if isinstance(fields, list) and fields:
        columns = tuple(str(f) for f in fields)
    elif not numbered:
        ctx.error(path, f"CSV file {written} is empty: it needs a header row or 'fields'")
        return None
    else:
        columns = tuple(c.strip() for c in numbered.pop(0)[1])
    bad = [n for n, row in numbered if len(row) != len(columns)]
    if bad:
        ctx.error(
            path,
            f"CSV file {written} line {bad[0]} has "
            f"{len(dict(numbered)[bad[0]])} columns, expected {len(columns)} "
            f"({', '.join(columns)})",
        )
        return None
    if not numbered:
        ctx.error(path, f"CSV file {written} has no data rows")
        return None
    return columns, tuple(tuple(row) for _, row in numbered)


# ---------------------------------------------------------------- thresholds


def compile_thresholds(
    ctx: Context, raw: Any, metrics: Mapping[str, str] | None = None
) -> tuple[Threshold, ...]:
    """The thresholds; `metrics` (name -> kind) are the declared custom metrics they may name."""
    metrics = metrics or {}
    out = []
    for index, item in enumerate(ctx.sequence(("thresholds",), raw)):
        path: JsonPath = ("thresholds", index)
        entry = item if isinstance(item, dict) else {"expr": item}
        where = (*path, "expr") if isinstance(item, dict) else path
        try:
            parsed = parse_threshold(str(entry.get("expr", "")), metrics)
        except ValueError as exc:
            ctx.error(where, str(exc))
            continue
        custom = parsed.row in metrics
        is_rate = custom and metrics[str(parsed.row)] == "rate" and parsed.metric == "value"
        if (is_rate or parsed.metric == "error_rate") and parsed.value > 1:
            ctx.error(
                where,
                f"{entry['expr']!r} cannot fail or cannot pass: "
                f"{'a rate' if custom else 'error_rate'} is at most 100%"
                f" (got {parsed.value * 100:g}%)",
            )
            continue
        out.append(
            Threshold(
                expr=str(entry["expr"]),
                metric=parsed.metric,
                op=parsed.op,
                value=parsed.value,
                row=parsed.row,
                abort=bool(entry.get("abort", False)),
                after=ctx.seconds((*path, "after"), entry.get("after"), 0.0),
                source=ctx.source(path),
                custom=custom,
            )
        )
    return tuple(out)
