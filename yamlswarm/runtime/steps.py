"""Step executors: each plan step becomes, once per process, a small function `run(user) -> bool`.

A registry maps each plan step type to its builder (STYLE 3). Everything that
can be decided before the run — constant URLs, request heads, JSON bodies,
stats rows, checkers — is decided here, so one request of one user does only
what its templates require. An executor returns False when its step failed;
only stop signals (`runtime.signals`) unwind a user.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gevent

from yamlswarm import plan as p
from yamlswarm.runtime.context import BuildEnv, Executor
from yamlswarm.runtime.request import build_request
from yamlswarm.runtime.signals import StopIterationSignal, StopUser
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import Template, renderer

if TYPE_CHECKING:
    from yamlswarm.runtime.user import VirtualUser

_LOOP_WHILE_MAX = 1000


# --------------------------------------------------------------------------- other steps


def build_think(step: p.ThinkStep, env: BuildEnv) -> Executor:
    wait = step.wait

    def run(user: VirtualUser) -> bool:
        delay = wait.low if wait.kind == "constant" else user.rng.uniform(wait.low, wait.high)
        user.sleep(delay)
        return True

    return run


def build_set(step: p.SetStep, env: BuildEnv) -> Executor:
    assignments = [(name, renderer(v)) for name, v in step.assignments]

    def run(user: VirtualUser) -> bool:
        ctx = user.vars
        try:
            for name, render in assignments:
                ctx[name] = render(ctx)
        except Exception as exc:
            env.stats.row(f"set {', '.join(n for n, _ in assignments)}", "SET").failure(
                0.0, error_text(exc)
            )
            return False
        return True

    return run


def build_if(step: p.IfStep, env: BuildEnv) -> Executor:
    condition = renderer(step.condition)
    then = build_steps(step.then, env)
    otherwise = build_steps(step.else_, env)
    row_name = (
        f"if {step.condition.source if isinstance(step.condition, Template) else step.condition}"
    )

    def run(user: VirtualUser) -> bool:
        try:
            chosen = then if condition(user.vars) else otherwise
        except Exception as exc:
            env.stats.row(row_name, "IF").failure(0.0, error_text(exc))
            return False
        return run_steps(chosen, user)

    return run


def build_loop(step: p.LoopStep, env: BuildEnv) -> Executor:
    body = build_steps(step.steps, env)
    as_name = step.as_
    limit = step.max
    row_name = f"loop {step.source.path or ''}".strip()
    count = renderer(step.count) if step.count is not None else None
    over = renderer(step.over) if step.over is not None else None
    condition = renderer(step.while_)

    def items_of(user: VirtualUser) -> Any:
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

    def run(user: VirtualUser) -> bool:
        ok = True
        try:
            items = items_of(user)
        except Exception as exc:
            return failed(exc)
        if items is not None:
            for item in items:
                user.vars[as_name] = item
                ok = run_steps(body, user) and ok
            return ok
        for index in range(limit or _LOOP_WHILE_MAX):
            user.vars[as_name] = index
            try:
                if not condition(user.vars):
                    break
            except Exception as exc:
                return failed(exc)
            ok = run_steps(body, user) and ok
        return ok

    return run


def build_group(step: p.GroupStep, env: BuildEnv) -> Executor:
    body = build_steps(step.steps, env)
    row = env.stats.row(step.name, "GROUP")

    def run(user: VirtualUser) -> bool:
        start = time.perf_counter()
        try:
            ok = run_steps(body, user)
        except StopIterationSignal:
            row.failure(time.perf_counter() - start, "a step of the group failed")
            raise
        if ok:
            row.success(time.perf_counter() - start)
        else:
            row.failure(time.perf_counter() - start, "a step of the group failed")
        return ok

    return run


def build_call(step: p.CallStep, env: BuildEnv) -> Executor:
    function = env.hooks.function(step.function)
    row = env.stats.row(step.function, "CALL")

    def run(user: VirtualUser) -> bool:
        start = time.perf_counter()
        try:
            function(user.api)
        except StopUser:
            raise
        except Exception as exc:
            env.hooks.report_exception(step.function, exc)
            row.failure(time.perf_counter() - start, error_text(exc))
            return False
        return True

    return run


def build_log(step: p.LogStep, env: BuildEnv) -> Executor:
    message = renderer(step.message)
    key = f"{step.source}"

    def run(user: VirtualUser) -> bool:
        now = time.monotonic()
        if now - env._log_times.get(key, -1e9) < 1.0:  # at most one line per second per log step
            return True
        env._log_times[key] = now
        try:
            text = as_text(message(user.vars))
        except Exception as exc:
            text = f"<log template failed: {error_text(exc)}>"
        env.log(f"[{user.name} #{user.id}] {text}")
        return True

    return run


BUILDERS: dict[type, Callable[[Any, BuildEnv], Executor]] = {
    p.RequestStep: build_request,
    p.ThinkStep: build_think,
    p.SetStep: build_set,
    p.IfStep: build_if,
    p.LoopStep: build_loop,
    p.GroupStep: build_group,
    p.CallStep: build_call,
    p.LogStep: build_log,
}


def build_steps(steps: Sequence[p.Step], env: BuildEnv) -> tuple[Executor, ...]:
    return tuple(BUILDERS[type(step)](step, env) for step in steps)


def run_steps(executors: tuple[Executor, ...], user: VirtualUser) -> bool:
    """Run steps in order; in a `stop_on_failure` flow a failure ends the iteration."""
    ok = True
    for execute in executors:
        if not execute(user):
            ok = False
            if user.stop_on_failure:
                raise StopIterationSignal()
    return ok


def sleep(seconds: float) -> None:
    if seconds > 0:
        gevent.sleep(seconds)
