"""The `if:` step: `if: "{{ condition }}"` with `then: [...]` and an optional `else: [...]`."""

from __future__ import annotations

from dataclasses import dataclass

from yamlswarm.kinds.base import (
    STEP_OPTIONS,
    CompileContext,
    CompileEnv,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
)
from yamlswarm.plan import NOWHERE, Source, Step, Value
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.values import error_text
from yamlswarm.templates import Template, renderer


@dataclass(frozen=True, slots=True)
class IfStep:
    condition: Value
    then: tuple[Step, ...]
    else_: tuple[Step, ...] = ()
    source: Source = NOWHERE


def compile_if(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> IfStep:
    return IfStep(
        condition=ctx.value((*path, "if"), step["if"]),
        then=env.steps(ctx, step.get("then"), (*path, "then")),
        else_=env.steps(ctx, step.get("else"), (*path, "else")),
        source=ctx.source(path),
    )


def build_if(step: IfStep, env: StepBuildEnv) -> Executor:
    condition = renderer(step.condition)
    then = env.block(step.then)
    otherwise = env.block(step.else_)
    written = step.condition.source if isinstance(step.condition, Template) else step.condition
    row_name = f"if {written}"

    def run(user: StepUser) -> bool:
        try:
            chosen = then if condition(user.vars) else otherwise
        except Exception as exc:
            env.stats.row(row_name, "IF").failure(0.0, error_text(exc))
            return False
        return chosen(user)

    return run


SCHEMA = {
    "if_step": {
        "type": "object",
        "description": "A condition with then/else steps.",
        "properties": {
            "if": {
                "type": ["string", "boolean"],
                "description": 'Condition: a template such as "{{ total > 100 }}" (or true/false).',
            },
            "then": {
                "$ref": "#/$defs/steps",
                "description": "Steps run when the condition is true.",
            },
            "else": {
                "$ref": "#/$defs/steps",
                "description": "Steps run when the condition is false.",
            },
            **STEP_OPTIONS,
        },
        "required": ["if", "then"],
        "additionalProperties": False,
    }
}

KIND = StepKind(
    name="if",
    keys={"if": "Run `then` steps when this condition is true, else the `else` steps."},
    plan_type=IfStep,
    compile=compile_if,
    build=build_if,
    schema=SCHEMA,
    stats_method="IF",
    nested=(("then",), ("else",)),
    children=("then", "else_"),
)
