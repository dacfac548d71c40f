"""What `validate` can tell of the stats rows a scenario will have: the thresholds must name them.

A threshold's ROW is a request row (`name` or `METHOD name`), a group, a parallel
block or a flow. When every row name of the scenario is static (no templated
`name:`, no hook `call:`, which may record rows of its own, no `websocket:`), a ROW matching none
of them is an error with a did-you-mean: the run would only say "no data". A ROW
close to a declared custom metric's name is one in any case (a misspelt metric).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator

from yamlswarm.compiler.context import Context, suggest
from yamlswarm.kinds import walk
from yamlswarm.kinds.call import CallStep
from yamlswarm.kinds.group import GroupStep
from yamlswarm.kinds.parallel import ParallelStep
from yamlswarm.plan import RequestStep, Step, Threshold, UserType
from yamlswarm.runtime.ws_plan import WebSocketStep
from yamlswarm.templates import Template

__all__ = ["check_threshold_rows"]


def check_threshold_rows(
    ctx: Context,
    thresholds: Iterable[Threshold],
    users: Iterable[UserType],
    metrics: Collection[str] = (),
) -> None:
    """Report each threshold whose ROW no row of the scenario can have (names all static),
    or that misspells a declared custom metric (`metrics`) even where rows are not known."""
    names = _row_names(users)
    for index, threshold in enumerate(thresholds):
        row = threshold.row
        if row is None or threshold.custom or (names is not None and row in names):
            continue
        close = suggest(row, metrics)
        if names is None and not close:
            continue  # rows not all known, and not a misspelt metric either
        ctx.error(
            _path(threshold, index),
            f"threshold row {row!r} is no request, group"
            f"{', flow or declared metric' if metrics else ' or flow'} of this scenario"
            f"{close or suggest(row, sorted(names or ()))}",
        )


def _path(threshold: Threshold, index: int) -> tuple[str, int]:
    """Where the threshold is written (`index` counts only those that compiled)."""
    match = re.fullmatch(r"thresholds\[(\d+)\]", threshold.source.path)
    return ("thresholds", int(match[1]) if match else index)


def _row_names(users: Iterable[UserType]) -> set[str] | None:
    """Every row name a run of these user types may record; None when some are not known."""
    names: set[str] = set()
    for user in users:
        names.update(flow.name for flow in user.flows)
        steps: list[Step] = [*user.on_start, *user.on_stop]
        for flow in user.flows:
            steps.extend(flow.steps)
        for name in _step_rows(walk(steps)):
            if name is None:
                return None
            names.add(name)
    return names


def _step_rows(steps: Iterable[Step]) -> Iterator[str | None]:
    for step in steps:
        if isinstance(step, RequestStep):
            if isinstance(step.name, Template) or step.name is None:
                yield None
            else:
                yield str(step.name)
                yield f"{step.method} {step.name}"
        elif isinstance(step, (GroupStep, ParallelStep)):
            yield step.name
        elif isinstance(step, (CallStep, WebSocketStep)):
            yield None  # a hook function may record rows of any name; WS rows are per message
