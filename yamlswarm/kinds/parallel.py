"""The `parallel:` step: its requests run at once, on a small pool of this user's connections.

    - parallel:
        name: assets              # the GROUP row timing the whole block (default "parallel")
        steps:
          - get: /static/app.js
          - get: /static/app.css

Each request is recorded as its own row, the block as one GROUP row. The first
request uses the user's own transport; the others use further transports of the
user, made on first use by the run's transport factory and kept until the user
stops (at most `MAX_CONNECTIONS` at once, as a browser's per-host limit; more
requests run in waves). They share the user's variables, session headers and,
where the transport has one, its cookie jar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
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
from yamlswarm.plan import NOWHERE, RequestStep, Source, Step
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.signals import StopSignal

MAX_CONNECTIONS = 6
_FAILED = "a request of the parallel block failed"


@dataclass(frozen=True, slots=True)
class ParallelStep:
    name: str
    steps: tuple[Step, ...]  # request steps
    source: Source = NOWHERE


def compile_parallel(
    ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv
) -> ParallelStep:
    where = (*path, "parallel")
    block = ctx.mapping(where, step["parallel"])
    steps = env.steps(ctx, block.get("steps"), (*where, "steps"))
    for index, child in enumerate(steps):
        if not isinstance(child, RequestStep):
            ctx.error((*where, "steps", index), "a parallel block holds requests only")
    return ParallelStep(str(block.get("name", "parallel")), steps, ctx.source(path))


class _Lane:
    """The user as one concurrent request sees it: its own transport, everything else shared."""

    __slots__ = ("busy", "transport", "user")

    def __init__(self, user: StepUser, transport: Any) -> None:
        self.user = user
        self.transport = transport
        self.busy = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)


def _pool(user: StepUser, size: int, factory: Any) -> list[Any]:
    """`size` transports for one wave: the user's own first, then its extra ones (made now)."""
    extra = user.extra_transports
    while len(extra) < size - 1:
        transport = factory()
        jar = getattr(user.transport, "jar", None)
        if jar is not None and hasattr(transport, "jar"):
            transport.jar = jar  # one cookie jar per user, as a browser's tabs share one
        extra.append(transport)
    return [user.transport, *extra[: size - 1]]


def build_parallel(step: ParallelStep, env: StepBuildEnv) -> Executor:
    children = [env.block((child,)) for child in step.steps]
    waves = [children[i : i + MAX_CONNECTIONS] for i in range(0, len(children), MAX_CONNECTIONS)]
    row = env.stats.row(step.name, "GROUP")
    now, together, factory = env.clock.now, env.together, env.transport_factory

    def run(user: StepUser) -> bool:
        start = now()
        ok = True
        try:
            for wave in waves:
                lanes = [_Lane(user, t) for t in _pool(user, len(wave), factory)]
                tasks = [partial(child, lane) for child, lane in zip(wave, lanes, strict=True)]
                ok = all(together(tasks)) and ok
        except StopSignal:
            row.failure(now() - start, _FAILED)
            raise
        if ok:
            row.success(now() - start)
        else:
            row.failure(now() - start, _FAILED)
        return ok

    return run


_PARALLEL: dict[str, Any] = {
    "type": "object",
    "description": "Requests run at once on this user's connections, timed as one GROUP row.",
    "properties": {
        "name": {"type": "string", "description": "Name of the GROUP row (default: parallel)."},
        "steps": {"$ref": "#/$defs/steps", "description": "The requests, run concurrently."},
    },
    "required": ["steps"],
    "additionalProperties": False,
}
SCHEMA = {
    "parallel_step": one_key_step(
        "parallel",
        "Run requests concurrently on this user's connections.",
        {"$ref": "#/$defs/parallel", "description": "{name, steps}: the requests, run at once."},
    ),
    "parallel": _PARALLEL,
}

KIND = StepKind(
    name="parallel",
    keys={"parallel": "Run requests at once on this user's connections: {name, steps}."},
    plan_type=ParallelStep,
    compile=compile_parallel,
    build=build_parallel,
    schema=SCHEMA,
    stats_method="GROUP",
    nested=(("parallel", "steps"),),
    children=("steps",),
    hints=Hints(
        nouns={"parallel": "a mapping {name, steps}"},
        inside={"parallel": tuple(_PARALLEL["properties"])},
    ),
)
