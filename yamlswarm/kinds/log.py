"""The `log:` step: print a templated line, at most once per second per step."""

from __future__ import annotations

from dataclasses import dataclass

from yamlswarm.kinds.base import (
    CompileContext,
    CompileEnv,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
    one_key_step,
)
from yamlswarm.plan import NOWHERE, Source, Value
from yamlswarm.report.terminal import printable
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import renderer

_EVERY_S = 1.0  # at most one line per this many seconds per log step


@dataclass(frozen=True, slots=True)
class LogStep:
    message: Value
    source: Source = NOWHERE


def compile_log(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> LogStep:
    return LogStep(ctx.value((*path, "log"), step["log"]), ctx.source(path))


def build_log(step: LogStep, env: StepBuildEnv) -> Executor:
    message = renderer(step.message)
    key = f"{step.source}"
    times = env._log_times  # shared by the steps of a run: one key per place in the file
    now = env.clock.now

    def run(user: StepUser) -> bool:
        moment = now()
        if moment - times.get(key, -1e9) < _EVERY_S:
            return True
        times[key] = moment
        try:
            text = as_text(message(user.vars))
        except Exception as exc:
            text = f"<log template failed: {error_text(exc)}>"
        env.log(f"[{user.name} #{user.id}] {printable(text)}")  # the target's bytes, escaped
        return True

    return run


SCHEMA = {
    "log_step": one_key_step(
        "log",
        "Print a line.",
        {"$ref": "#/$defs/text", "description": "The line to print; may be a template."},
    )
}

KIND = StepKind(
    name="log",
    keys={"log": "Print a line (rate-limited); may be a template."},
    plan_type=LogStep,
    compile=compile_log,
    build=build_log,
    schema=SCHEMA,
)
