"""The `loop:` step: repeat steps `count` times, once per item `over` a list, or `while` true."""

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
from yamlswarm.plan import NOWHERE, Source, Step, Value
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.values import error_text
from yamlswarm.templates import renderer

_MODES = ("count", "over", "while")
_WHILE_MAX = 1000  # a `while` loop without `max` stops after this many repetitions


@dataclass(frozen=True, slots=True)
class LoopStep:
    """Exactly one of count / over / while_ is set; `max` bounds every kind."""

    steps: tuple[Step, ...]
    count: Value | None = None
    over: Value | None = None
    while_: Value | None = None
    as_: str = "item"
    max: int | None = None
    source: Source = NOWHERE


def compile_loop(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> LoopStep:
    where = (*path, "loop")
    loop = ctx.mapping(where, step["loop"])
    modes = [k for k in _MODES if k in loop]
    if len(modes) != 1:
        ctx.error(where, "a loop needs exactly one of count, over, while")
    values = {mode: ctx.value((*where, mode), loop[mode]) for mode in modes}
    max_ = loop.get("max")
    return LoopStep(
        steps=env.steps(ctx, loop.get("steps"), (*where, "steps")),
        count=values.get("count"),
        over=values.get("over"),
        while_=values.get("while"),
        as_=loop.get("as") or "item",
        max=None if max_ is None else ctx.integer((*where, "max"), max_, 1, minimum=1),
        source=ctx.source(path),
    )


def _assigns(step: Mapping[Any, Any]) -> Iterator[Any]:
    inner = step.get("loop")
    if isinstance(inner, dict):
        yield inner.get("as") or "item"


def build_loop(step: LoopStep, env: StepBuildEnv) -> Executor:
    body = env.block(step.steps)
    as_name = step.as_
    limit = step.max
    row_name = f"loop {step.source.path or ''}".strip()
    count = renderer(step.count) if step.count is not None else None
    over = renderer(step.over) if step.over is not None else None
    condition = renderer(step.while_)

    def items_of(user: StepUser) -> Any:
        """The loop's items for `count`/`over`; None for a `while` loop."""
        if count is not None:
            n = int(count(user.vars))
            return range(min(n, limit) if limit else n)
        if over is not None:
            items = over(user.vars)
            items = items if isinstance(items, (list, tuple)) else list(items)
            return items[:limit] if limit else items
        return None

    def failed(exc: Exception) -> bool:
        env.stats.row(row_name, "LOOP").failure(0.0, error_text(exc))
        return False

    def run(user: StepUser) -> bool:
        ok = True
        try:
            items = items_of(user)
        except Exception as exc:
            return failed(exc)
        if items is not None:
            for item in items:
                user.vars[as_name] = item
                ok = body(user) and ok
            return ok
        for index in range(limit or _WHILE_MAX):
            user.vars[as_name] = index
            try:
                if not condition(user.vars):
                    break
            except Exception as exc:
                return failed(exc)
            ok = body(user) and ok
        return ok

    return run


_LOOP: dict[str, Any] = {
    "type": "object",
    "description": "Exactly one of count, over, while; plus steps.",
    "properties": {
        "count": {
            "type": ["integer", "string"],
            "minimum": 0,
            "description": "Repeat this many times (a number or a template).",
        },
        "over": {
            "type": ["string", "array"],
            "description": "Run the steps once per item of this list (a literal list or a template).",
        },
        "while": {
            "type": ["string", "boolean"],
            "description": "Repeat while this template is true (at most `max` times, default 1000).",
        },
        "as": {
            "$ref": "#/$defs/identifier",
            "description": "Variable holding the current item or index (default: item).",
        },
        "max": {
            "type": "integer",
            "minimum": 1,
            "description": "Upper bound on the number of repetitions.",
        },
        "steps": {"$ref": "#/$defs/steps", "description": "Steps run on every repetition."},
    },
    "required": ["steps"],
    "oneOf": [{"required": [mode]} for mode in _MODES],
    "additionalProperties": False,
}
SCHEMA = {
    "loop_step": one_key_step(
        "loop",
        "Repeat steps.",
        {
            "$ref": "#/$defs/loop",
            "description": "Repetition: {count | over | while, as, max, steps}.",
        },
    ),
    "loop": _LOOP,
}

KIND = StepKind(
    name="loop",
    keys={"loop": "Repeat steps: {count | over | while, as, max, steps}."},
    plan_type=LoopStep,
    compile=compile_loop,
    build=build_loop,
    schema=SCHEMA,
    stats_method="LOOP",
    assigns=_assigns,
    nested=(("loop", "steps"),),
    children=("steps",),
    hints=Hints(
        nouns={"loop": "a mapping {count | over | while, steps}"},
        subjects={"loop": "a loop"},
        inside={"loop": tuple(_LOOP["properties"])},
    ),
)
