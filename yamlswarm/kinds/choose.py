"""The `choose:` step: one of several weighted step lists, drawn per run of the step.

    - choose:
        - {weight: 3, steps: [{get: /browse}]}
        - {weight: 1, steps: [{post: /cart}]}

The draw uses the user's seeded random source (Locust: `random.random() < 0.25`).
"""

from __future__ import annotations

import bisect
import itertools
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


@dataclass(frozen=True, slots=True)
class Choice:
    weight: float
    steps: tuple[Step, ...]
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class ChooseStep:
    """Runs the steps of one `choices` entry, drawn by weight."""

    choices: tuple[Choice, ...]
    source: Source = NOWHERE

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every choice's steps (for `kinds.walk`)."""
        return tuple(step for choice in self.choices for step in choice.steps)


def compile_choose(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> ChooseStep:
    where = (*path, "choose")
    choices = []
    for index, raw in enumerate(ctx.sequence(where, step["choose"])):
        at = (*where, index)
        entry = ctx.mapping(at, raw)
        weight = entry.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            ctx.error((*at, "weight"), f"a weight is a number > 0, got {weight!r}")
            weight = 1
        steps = env.steps(ctx, entry.get("steps"), (*at, "steps"))
        choices.append(Choice(float(weight), steps, ctx.source(at)))
    if not choices:
        ctx.error(where, "'choose' needs at least one {weight, steps} entry")
    return ChooseStep(tuple(choices), ctx.source(path))


def build_choose(step: ChooseStep, env: StepBuildEnv) -> Executor:
    bodies = [env.block(choice.steps) for choice in step.choices]
    if not bodies:
        return lambda user: True
    cumulative = list(itertools.accumulate(choice.weight for choice in step.choices))
    total = cumulative[-1]

    def run(user: StepUser) -> bool:
        return bodies[bisect.bisect_right(cumulative, user.rng.random() * total)](user)

    return run


_CHOICE: dict[str, Any] = {
    "type": "object",
    "description": "One alternative of a choose step: its weight and steps.",
    "properties": {
        "weight": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Relative weight of this alternative (default 1).",
        },
        "steps": {"$ref": "#/$defs/steps", "description": "Steps run when it is chosen."},
    },
    "required": ["steps"],
    "additionalProperties": False,
}
SCHEMA = {
    "choose_step": one_key_step(
        "choose",
        "Run one of several step lists, drawn by weight.",
        {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/choice"},
            "description": "The alternatives: [{weight, steps}, ...].",
        },
    ),
    "choice": _CHOICE,
}

KIND = StepKind(
    name="choose",
    keys={"choose": "Run one of several weighted step lists: [{weight, steps}, ...]."},
    plan_type=ChooseStep,
    compile=compile_choose,
    build=build_choose,
    schema=SCHEMA,
    nested=(("choose", "steps"),),
    children=("steps",),
    hints=Hints(
        nouns={"choice": "a mapping {weight, steps}"},
        inside={"choose": tuple(_CHOICE["properties"])},
    ),
)
