"""The `set:` step: assign user variables, `set: {name: value-or-template, ...}`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from yamlswarm.plan import NOWHERE, Source, Value
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.values import error_text
from yamlswarm.templates import renderer


@dataclass(frozen=True, slots=True)
class SetStep:
    assignments: tuple[tuple[str, Value], ...]
    source: Source = NOWHERE


def compile_set(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> SetStep:
    where = (*path, "set")
    pairs = ctx.mapping(where, step["set"]).items()
    assignments = tuple((str(k), ctx.value((*where, k), v)) for k, v in pairs)
    return SetStep(assignments, ctx.source(path))


def _assigns(step: Mapping[Any, Any]) -> Iterator[str]:
    block = step.get("set")
    if isinstance(block, dict):
        yield from (k for k in block if isinstance(k, str))


def build_set(step: SetStep, env: StepBuildEnv) -> Executor:
    assignments = [(name, renderer(v)) for name, v in step.assignments]
    row_name = f"set {', '.join(n for n, _ in assignments)}"

    def run(user: StepUser) -> bool:
        ctx = user.vars
        try:
            for name, render in assignments:
                ctx[name] = render(ctx)
        except Exception as exc:
            env.stats.row(row_name, "SET").failure(0.0, error_text(exc))
            return False
        return True

    return run


SCHEMA = {
    "set_step": one_key_step(
        "set",
        "Assign user variables.",
        {"$ref": "#/$defs/set", "description": "Variables to assign: {name: value-or-template}."},
    ),
    "set": {
        "type": "object",
        "minProperties": 1,
        "description": "Variable name -> value (may be a template).",
        "propertyNames": {"$ref": "#/$defs/identifier"},
        "additionalProperties": {
            "description": "The value to assign; strings may hold {{ templates }}."
        },
    },
}

KIND = StepKind(
    name="set",
    keys={"set": "Assign user variables: {name: value-or-template}."},
    plan_type=SetStep,
    compile=compile_set,
    build=build_set,
    schema=SCHEMA,
    stats_method="SET",
    assigns=_assigns,
    hints=Hints(
        nouns={"set": "a mapping of variable names to values"},
        sizes={"set": "expected at least one variable to set"},
    ),
)
