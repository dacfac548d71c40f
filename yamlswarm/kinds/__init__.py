"""The step-kind registry: every kind of step a scenario may use, in one explicit tuple.

Each kind module holds the kind's plan node, schema fragment, compile function and
runtime builder in one `StepKind` (`kinds.base`). Everything else derives from
`KINDS`: the compiler's dispatch and `assigned_names` (`compiler.steps`), the
runtime's `build_steps` (`runtime.steps`), the JSON Schema (`scenario.schema`) and
the wording of schema errors (`scenario.schema_errors`). Adding a step kind is a
new module here plus one entry in `KINDS` (then docs, tests and an example).

Nothing here imports gevent, YAML, jsonschema or Click (tests/test_kinds.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from yamlswarm.kinds import (
    call,
    chance,
    choose,
    group,
    header,
    if_,
    log,
    loop,
    metric,
    parallel,
    request,
    set_,
    stop,
    think,
    use,
    websocket,
)
from yamlswarm.kinds.base import StepKind
from yamlswarm.plan import Step

__all__ = ["BY_KEY", "BY_TYPE", "KINDS", "STEP_KEYS", "StepKind", "walk"]

KINDS: tuple[StepKind, ...] = (
    request.KIND,
    think.KIND,
    loop.KIND,
    if_.KIND,
    group.KIND,
    set_.KIND,
    call.KIND,
    log.KIND,
    header.KIND,
    choose.KIND,
    use.KIND,
    stop.KIND,
    parallel.KIND,
    websocket.KIND,
    metric.KIND,
    chance.KIND,  # no key: `probability:` on any step (compiler.steps.compile_step)
)

STEP_KEYS: tuple[str, ...] = tuple(key for kind in KINDS for key in kind.keys)  # get ... websocket
BY_KEY: dict[str, StepKind] = {key: kind for kind in KINDS for key in kind.keys}
BY_TYPE: dict[type, StepKind] = {kind.plan_type: kind for kind in KINDS}


def walk(steps: Iterable[Step]) -> Iterator[Step]:
    """Every plan step of a list, nested ones too, each before its children."""
    for step in steps:
        yield step
        for attribute in BY_TYPE[type(step)].children:
            yield from walk(getattr(step, attribute))
