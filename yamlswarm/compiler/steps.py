"""Compilation of steps: a registry of one small function per step kind, plus waits.

`compile_steps(ctx, steps, path, defaults)` turns the `steps:` list of a flow (or
on_start / on_stop / a nested block) into plan steps. Requests, checks and
extraction live in `compiler.requests`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from yamlswarm.compiler.context import Context, JsonPath, suggest
from yamlswarm.compiler.requests import METHODS, RequestDefaults, compile_request
from yamlswarm.hookmodules import HookModules
from yamlswarm.plan import (
    CallStep,
    GroupStep,
    IfStep,
    LogStep,
    LoopStep,
    SetStep,
    Step,
    ThinkStep,
    Wait,
)

STEP_KINDS = (*METHODS, "request", "think", "loop", "if", "group", "set", "call", "log")


@dataclass
class StepEnv:
    """What every step of a scenario shares while compiling."""

    defaults: RequestDefaults
    hooks: HookModules | None  # None: not loaded, `call:` is not checked
    hook_specs: tuple[str, ...]  # as written, for messages


def compile_steps(ctx: Context, raw: Any, path: JsonPath, env: StepEnv) -> tuple[Step, ...]:
    out: list[Step] = []
    for index, item in enumerate(ctx.sequence(path, raw)):
        step = compile_step(ctx, item, (*path, index), env)
        if step is not None:
            out.append(step)
    return tuple(out)


def compile_step(ctx: Context, raw: Any, path: JsonPath, env: StepEnv) -> Step | None:
    step = ctx.mapping(path, raw)
    kinds = [k for k in step if k in STEP_KINDS]
    if len(kinds) != 1:
        if kinds:
            ctx.error(path, f"a step has exactly one kind, found {', '.join(map(repr, kinds))}")
        else:
            ctx.error(path, f"a step needs one of {', '.join(STEP_KINDS)}")
        return None
    kind = kinds[0]
    if kind in METHODS or kind == "request":
        return compile_request(ctx, kind, step, path, env.defaults)
    return _KINDS[kind](ctx, step, path, env)


def _think(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> ThinkStep:
    return ThinkStep(think_wait(ctx, step["think"], (*path, "think")), ctx.source(path))


def think_wait(ctx: Context, raw: Any, path: JsonPath) -> Wait:
    """`think: D` or `think: {between: [a, b]}`."""
    if isinstance(raw, dict) and "between" in raw:
        return _between(ctx, raw["between"], (*path, "between"), path)
    return Wait("constant", ctx.seconds(path, raw, 0.0), source=ctx.source(path))


def _between(ctx: Context, raw: Any, path: JsonPath, owner: JsonPath) -> Wait:
    pair = ctx.sequence(path, raw)
    if len(pair) != 2:
        ctx.error(path, "'between' needs two durations: [low, high]")
        return Wait("between", 0.0, 0.0, ctx.source(owner))
    low = ctx.seconds((*path, 0), pair[0], 0.0)
    high = ctx.seconds((*path, 1), pair[1], 0.0)
    if low > high:
        ctx.error(path, f"'between' needs low <= high, got {pair[0]} > {pair[1]}")
    return Wait("between", low, high, ctx.source(owner))


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
        return _between(ctx, value, where, path)
    if kind in ("constant", "pacing"):
        return Wait(kind, ctx.seconds(where, value, 0.0), source=ctx.source(path))
    if kind == "throughput":
        rate = ctx.rate(where, value, 1.0)
        return Wait(kind, 1.0 if rate is None else rate, source=ctx.source(path))
    ctx.error(where, f"unknown wait {kind!r}{suggest(kind, ['between', 'constant', 'pacing'])}")
    return None


def _loop(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> LoopStep:
    where = (*path, "loop")
    loop = ctx.mapping(where, step["loop"])
    modes = [k for k in ("count", "over", "while") if k in loop]
    if len(modes) != 1:
        ctx.error(where, "a loop needs exactly one of count, over, while")
    values = {mode: ctx.value((*where, mode), loop[mode]) for mode in modes}
    max_ = loop.get("max")
    return LoopStep(
        steps=compile_steps(ctx, loop.get("steps"), (*where, "steps"), env),
        count=values.get("count"),
        over=values.get("over"),
        while_=values.get("while"),
        as_=loop.get("as") or "item",
        max=None if max_ is None else ctx.integer((*where, "max"), max_, 1, minimum=1),
        source=ctx.source(path),
    )


def _if(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> IfStep:
    return IfStep(
        condition=ctx.value((*path, "if"), step["if"]),
        then=compile_steps(ctx, step.get("then"), (*path, "then"), env),
        else_=compile_steps(ctx, step.get("else"), (*path, "else"), env),
        source=ctx.source(path),
    )


def _group(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> GroupStep:
    where = (*path, "group")
    group = ctx.mapping(where, step["group"])
    return GroupStep(
        name=str(group.get("name", "")),
        steps=compile_steps(ctx, group.get("steps"), (*where, "steps"), env),
        source=ctx.source(path),
    )


def _set(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> SetStep:
    where = (*path, "set")
    pairs = ctx.mapping(where, step["set"]).items()
    assignments = tuple((str(k), ctx.value((*where, k), v)) for k, v in pairs)
    return SetStep(assignments, ctx.source(path))


def _call(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> CallStep:
    name = step["call"]
    where = (*path, "call")
    if not isinstance(name, str):
        ctx.error(where, f"expected a function name, got {name!r}")
        name = ""
    elif env.hooks is not None and env.hooks.function(name) is None:
        if env.hook_specs:
            modules = ", ".join(env.hook_specs)
            hint = suggest(name, env.hooks.names())
            ctx.error(where, f"hook function {name!r} not found in {modules}{hint}")
        else:
            ctx.error(where, f"hook function {name!r} not found: the scenario declares no 'hooks'")
    return CallStep(name, ctx.source(path))


def _log(ctx: Context, step: dict, path: JsonPath, env: StepEnv) -> LogStep:
    return LogStep(ctx.value((*path, "log"), step["log"]), ctx.source(path))


_KINDS: dict[str, Callable[[Context, dict, JsonPath, StepEnv], Step]] = {
    "think": _think,
    "loop": _loop,
    "if": _if,
    "group": _group,
    "set": _set,
    "call": _call,
    "log": _log,
}


# ---------------------------------------------------------------- assigned names


def assigned_names(steps: Any) -> Iterator[str]:
    """Every user variable a list of steps may assign (extract, set, loop `as`), nested too."""
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        long_form = step.get("request")
        request: dict = long_form if isinstance(long_form, dict) else step
        for block in (request.get("extract"), step.get("set")):
            if isinstance(block, dict):
                yield from (k for k in block if isinstance(k, str))
        for key in ("then", "else"):
            yield from assigned_names(step.get(key))
        for key in ("loop", "group"):
            inner = step.get(key)
            if isinstance(inner, dict):
                if key == "loop":
                    yield inner.get("as") or "item"
                yield from assigned_names(inner.get("steps"))
