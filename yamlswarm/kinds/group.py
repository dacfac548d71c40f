"""The `group:` step: `{name, steps}` timed as one transaction row (method GROUP) in the stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yamlswarm.kinds.base import (
    CompileContext,
    CompileEnv,
    Hints,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
    one_key_step,
)
from yamlswarm.plan import NOWHERE, Source, Step
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.signals import StopIterationSignal

_FAILED = "a step of the group failed"


@dataclass(frozen=True, slots=True)
class GroupStep:
    """Times its steps as one transaction row named `name` (method "GROUP")."""

    name: str
    steps: tuple[Step, ...]
    source: Source = NOWHERE


def compile_group(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> GroupStep:
    where = (*path, "group")
    group = ctx.mapping(where, step["group"])
    return GroupStep(
        name=str(group.get("name", "")),
        steps=env.steps(ctx, group.get("steps"), (*where, "steps")),
        source=ctx.source(path),
    )


def build_group(step: GroupStep, env: StepBuildEnv) -> Executor:
    body = env.block(step.steps)
    row = env.stats.row(step.name, "GROUP")
    now = env.clock.now

    def run(user: StepUser) -> bool:
        start = now()
        try:
            ok = body(user)
        except StopIterationSignal:
            row.failure(now() - start, _FAILED)
            raise
        if ok:
            row.success(now() - start)
        else:
            row.failure(now() - start, _FAILED)
        return ok

    return run


_GROUP: dict[str, Any] = {
    "type": "object",
    "description": "A named group of steps timed as one row in the stats.",
    "properties": {
        "name": {"type": "string", "description": "Name of the transaction row."},
        "steps": {"$ref": "#/$defs/steps", "description": "Steps of the group."},
    },
    "required": ["name", "steps"],
    "additionalProperties": False,
}
SCHEMA = {
    "group_step": one_key_step(
        "group",
        "Time several steps as one transaction.",
        {"$ref": "#/$defs/group", "description": "{name, steps}: timed as one transaction row."},
    ),
    "group": _GROUP,
}

KIND = StepKind(
    name="group",
    keys={"group": "Time the steps as one transaction row: {name, steps}."},
    plan_type=GroupStep,
    compile=compile_group,
    build=build_group,
    schema=SCHEMA,
    stats_method="GROUP",
    nested=(("group", "steps"),),
    children=("steps",),
    hints=Hints(
        nouns={"group": "a mapping {name, steps}"},
        inside={"group": tuple(_GROUP["properties"])},
    ),
)
