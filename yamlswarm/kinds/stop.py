"""The `stop:` step: `stop: user` ends this virtual user (its on_stop runs), `stop: test` the run.

An optional `reason:` (may be a template) is counted in the results: "users
stopped: N (reason)" in the table, `users_stopped` / `test_stopped` in the JSON.
A request's `on_failure: stop_user | stop_test` does the same when it fails
(`kinds.request`, through `stopper`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from yamlswarm.kinds.base import (
    STEP_OPTIONS,
    CompileContext,
    CompileEnv,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
)
from yamlswarm.plan import NOWHERE, Source, Value
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.signals import StopTest, StopUser
from yamlswarm.runtime.values import as_text
from yamlswarm.templates import Template, renderer

SCOPES = ("user", "test")


@dataclass(frozen=True, slots=True)
class StopStep:
    scope: str  # "user" | "test"
    reason: Value
    source: Source = NOWHERE


def compile_stop(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> StopStep:
    scope = step["stop"]
    if scope not in SCOPES:
        ctx.error((*path, "stop"), f"'stop' is user or test, got {scope!r}")
        scope = "user"
    default = f"stop: {scope} at line {ctx.source(path).line}"
    reason = ctx.value((*path, "reason"), step["reason"]) if "reason" in step else default
    return StopStep(scope, reason, ctx.source(path))


def stopper(stats: Any, scope: str, reason: Value) -> Callable[[StepUser], NoReturn]:
    """A function that counts the stop in `stats` and raises the signal that stops it."""
    render = renderer(reason)
    written = reason.source if isinstance(reason, Template) else as_text(reason)

    def stop(user: StepUser) -> NoReturn:
        try:
            text = as_text(render(user.vars))
        except Exception:  # a reason that does not render: the text as written
            text = written
        if scope == "test":
            stats.stopped_test(text)
            raise StopTest(text)
        stats.user_stopped(text)
        raise StopUser()

    return stop


def build_stop(step: StopStep, env: StepBuildEnv) -> Executor:
    stop = stopper(env.stats, step.scope, step.reason)

    def run(user: StepUser) -> bool:
        stop(user)

    return run


SCHEMA = {
    "stop_step": {
        "type": "object",
        "description": "Stop this virtual user or the whole test.",
        "properties": {
            "stop": {
                "enum": list(SCOPES),
                "description": "user: stop this virtual user (its on_stop runs); test: stop the run.",
            },
            "reason": {
                "$ref": "#/$defs/text",
                "description": "Why, as shown in the results; may be a template.",
            },
            **STEP_OPTIONS,
        },
        "required": ["stop"],
        "additionalProperties": False,
    }
}

KIND = StepKind(
    name="stop",
    keys={"stop": "Stop this virtual user (`user`) or the whole test (`test`); optional reason."},
    plan_type=StopStep,
    compile=compile_stop,
    build=build_stop,
    schema=SCHEMA,
)
