"""Compilation of steps, dispatched through the step-kind registry (`yamlswarm.kinds`), and waits.

`compile_steps(ctx, steps, path, env)` turns the `steps:` list of a flow (or
on_start / on_stop / a nested block) into plan steps: each step mapping goes to
the compile function of the one kind its key selects. `assigned_names` lists
every variable the steps may assign; `user_wait` compiles a user type's `wait:`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yamlswarm.compiler.context import Context, JsonPath, suggest
from yamlswarm.hookmodules import HookModules
from yamlswarm.kinds import BY_KEY, KINDS, STEP_KEYS
from yamlswarm.kinds.base import CompileContext, CompileEnv, RequestDefaults
from yamlswarm.kinds.chance import ChanceStep
from yamlswarm.kinds.think import between
from yamlswarm.plan import Step, Wait

__all__ = ["assigned_names", "compile_steps", "step_env", "user_wait"]


def step_env(
    defaults: RequestDefaults,
    hooks: HookModules | None,
    hook_specs: tuple[str, ...],
    use_block: Callable[[CompileContext, Any, JsonPath], tuple[Step, ...] | None] | None = None,
    metrics: Mapping[str, str] | None = None,
) -> CompileEnv:
    """What every step of a scenario shares; `hooks` None: not loaded, `call:` is not checked;
    `use_block`: the scenario's `blocks:` (`compiler.blocks.Blocks.use`); `metrics`: the
    declared custom metrics, name -> kind."""
    env = CompileEnv(
        defaults, hooks, hook_specs, compile_steps, suggest, compile_step, metrics=metrics or {}
    )
    return env if use_block is None else dataclasses.replace(env, use_block=use_block)


def compile_steps(
    ctx: CompileContext, raw: Any, path: JsonPath, env: CompileEnv
) -> tuple[Step, ...]:
    out: list[Step] = []
    for index, item in enumerate(ctx.sequence(path, raw)):
        step = compile_step(ctx, item, (*path, index), env)
        if step is not None:
            out.append(step)
    return tuple(out)


def compile_step(ctx: CompileContext, raw: Any, path: JsonPath, env: CompileEnv) -> Step | None:
    step = ctx.mapping(path, raw)
    keys = [k for k in step if k in BY_KEY]
    if len(keys) != 1:
        if keys:
            ctx.error(path, f"a step has exactly one kind, found {', '.join(map(repr, keys))}")
        else:
            ctx.error(path, f"a step needs one of {', '.join(STEP_KEYS)}")
        return None
    compiled = BY_KEY[keys[0]].compile(ctx, step, path, env)
    probability = step.get("probability")
    if probability is None:
        return compiled
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        ctx.error((*path, "probability"), f"a probability is a number, got {probability!r}")
        return compiled
    if not 0 < probability <= 1:
        ctx.error((*path, "probability"), f"a probability is > 0 and <= 1, got {probability!r}")
        return compiled
    return ChanceStep(float(probability), (compiled,), ctx.source(path))


def assigned_names(steps: Any) -> Iterator[Any]:
    """Every user variable a list of steps may assign (extract, set, loop `as`), nested too."""
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        for kind in KINDS:
            yield from kind.assigns(step)
            for nested in kind.nested:
                for steps in _at(step, nested):
                    yield from assigned_names(steps)


def _at(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """The values at `path` under a step; a list on the way is gone through item by item
    (`choose: [{steps}, ...]`)."""
    if not path:
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _at(item, path)
    elif isinstance(value, dict):
        yield from _at(value.get(path[0]), path[1:])


def user_wait(ctx: Context, raw: Any, path: JsonPath) -> Wait | None:
    """A user type's `wait:` (between / constant / pacing / throughput)."""
    if raw is None:
        return None
    wait = ctx.mapping(path, raw)
    if len(wait) != 1:
        ctx.error(path, "a wait has exactly one of between, constant, pacing, throughput")
        return None
    ((kind, value),) = wait.items()
    where = (*path, kind)
    if kind == "between":
        return between(ctx, value, where, path)
    if kind in ("constant", "pacing"):
        return Wait(kind, ctx.seconds(where, value, 0.0), source=ctx.source(path))
    if kind == "throughput":
        rate = ctx.rate(where, value, 1.0)
        return Wait(kind, 1.0 if rate is None else rate, source=ctx.source(path))
    ctx.error(where, f"unknown wait {kind!r}{suggest(kind, ['between', 'constant', 'pacing'])}")
    return None
