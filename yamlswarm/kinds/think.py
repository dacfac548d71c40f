"""The `think:` step: a pause inside a flow, `think: D` or `think: {between: [low, high]}`."""

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
from yamlswarm.plan import NOWHERE, Source, Wait
from yamlswarm.runtime.context import Executor

_DURATION_PATTERN = r"^\s*((\d+(\.\d+)?(ms|h|m|s))+|\d+(\.\d+)?)\s*$"


@dataclass(frozen=True, slots=True)
class ThinkStep:
    wait: Wait
    source: Source = NOWHERE


def compile_think(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> ThinkStep:
    return ThinkStep(think_wait(ctx, step["think"], (*path, "think")), ctx.source(path))


def think_wait(ctx: CompileContext, raw: Any, path: JsonPath) -> Wait:
    """`think: D` or `think: {between: [a, b]}`."""
    if isinstance(raw, dict) and "between" in raw:
        return between(ctx, raw["between"], (*path, "between"), path)
    return Wait("constant", ctx.seconds(path, raw, 0.0), source=ctx.source(path))


def between(ctx: CompileContext, raw: Any, path: JsonPath, owner: JsonPath) -> Wait:
    """`between: [low, high]` (also a user type's `wait:`), located at `owner`."""
    pair = ctx.sequence(path, raw)
    if len(pair) != 2:
        ctx.error(path, "'between' needs two durations: [low, high]")
        return Wait("between", 0.0, 0.0, ctx.source(owner))
    low = ctx.seconds((*path, 0), pair[0], 0.0)
    high = ctx.seconds((*path, 1), pair[1], 0.0)
    if low > high:
        ctx.error(path, f"'between' needs low <= high, got {pair[0]} > {pair[1]}")
    return Wait("between", low, high, ctx.source(owner))


def build_think(step: ThinkStep, env: StepBuildEnv) -> Executor:
    wait = step.wait

    def run(user: StepUser) -> bool:
        delay = wait.low if wait.kind == "constant" else user.rng.uniform(wait.low, wait.high)
        user.sleep(delay)
        return True

    return run


SCHEMA = {
    "think_step": one_key_step(
        "think",
        "A pause inside a flow.",
        {"$ref": "#/$defs/think", "description": "Pause: a duration or {between: [low, high]}."},
    ),
    "think": {
        "type": ["number", "string", "object"],
        "minimum": 0,
        "pattern": _DURATION_PATTERN,
        "description": "A duration (500ms, 30s, 1m30s or seconds) or {between: [low, high]}.",
        "properties": {
            "between": {
                "$ref": "#/$defs/between",
                "description": "A random pause between two durations.",
            }
        },
        "required": ["between"],
        "additionalProperties": False,
    },
}

KIND = StepKind(
    name="think",
    keys={"think": "Pause inside a flow: a duration or {between: [low, high]}."},
    plan_type=ThinkStep,
    compile=compile_think,
    build=build_think,
    schema=SCHEMA,
    hints=Hints(
        nouns={"think": "a duration or {between: [low, high]}"},
        durations=frozenset({"think"}),
    ),
)
