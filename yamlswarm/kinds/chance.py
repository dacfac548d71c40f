"""`probability: p` on any step: the step runs with probability p, else it is skipped.

Not selected by a key of its own (no `keys`): `compiler.steps.compile_step` wraps any
step that has `probability:` in a `ChanceStep`. The draw uses the user's seeded
random source, so a run with `--seed` repeats its choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from yamlswarm.kinds.base import (
    CompileContext,
    CompileEnv,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
)
from yamlswarm.plan import NOWHERE, Source, Step
from yamlswarm.runtime.context import Executor


@dataclass(frozen=True, slots=True)
class ChanceStep:
    """Runs `steps` (the one step that had `probability:`) with probability `probability`."""

    probability: float
    steps: tuple[Step, ...]
    source: Source = NOWHERE


def compile_chance(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> Step:
    raise TypeError("probability wraps a step: compiler.steps.compile_step builds ChanceStep")


def build_chance(step: ChanceStep, env: StepBuildEnv) -> Executor:
    body = env.block(step.steps)
    probability = step.probability
    if probability >= 1.0:
        return body

    def run(user: StepUser) -> bool:
        if user.rng.random() < probability:
            return body(user)
        return True  # skipped: not a failure

    return run


KIND = StepKind(
    name="probability",
    keys={},
    plan_type=ChanceStep,
    compile=compile_chance,
    build=build_chance,
    schema={},
    children=("steps",),
)
