"""The `use:` step: run a named block of steps from the scenario's top-level `blocks:`.

Blocks are compiled once (`compiler.blocks`), may use other blocks, and a cycle
is a validation error that names it (`a -> b -> a`).
"""

from __future__ import annotations

from dataclasses import dataclass

from yamlswarm.kinds.base import (
    CompileContext,
    CompileEnv,
    Hints,
    JsonPath,
    StepBuildEnv,
    StepKind,
    one_key_step,
)
from yamlswarm.plan import NOWHERE, Source, Step
from yamlswarm.runtime.context import Executor


@dataclass(frozen=True, slots=True)
class UseStep:
    """The steps of block `name`, run in order."""

    name: str
    steps: tuple[Step, ...]
    source: Source = NOWHERE


def compile_use(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> UseStep:
    name = step["use"]
    steps = env.use_block(ctx, name, (*path, "use"))
    return UseStep(str(name), steps or (), ctx.source(path))


def build_use(step: UseStep, env: StepBuildEnv) -> Executor:
    return env.block(step.steps)


SCHEMA = {
    "use_step": one_key_step(
        "use",
        "Run a named block of steps (top-level `blocks:`).",
        {"$ref": "#/$defs/identifier", "description": "The name of a block under `blocks:`."},
    ),
}

KIND = StepKind(
    name="use",
    keys={"use": "Run the steps of a named block from the top-level `blocks:`."},
    plan_type=UseStep,
    compile=compile_use,
    build=build_use,
    schema=SCHEMA,
    children=("steps",),
    hints=Hints(nouns={"use_step": "the name of a block"}),
)
