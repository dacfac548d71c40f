"""The `call:` step: run a hook module's function as `fn(user)`; an exception fails the step.

`StopUser` / `StopTest` raised by the function stop its user / the run (counted with
their reason); `SystemExit` and `KeyboardInterrupt` fail the step like any exception.
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
    one_key_step,
)
from yamlswarm.plan import NOWHERE, Source
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.hook_calls import ESCAPES, HookExit
from yamlswarm.runtime.signals import StopTest, StopUser
from yamlswarm.runtime.values import error_text


@dataclass(frozen=True, slots=True)
class CallStep:
    function: str  # a function of a hook module, called as fn(user)
    source: Source = NOWHERE


def compile_call(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> CallStep:
    name = step["call"]
    where = (*path, "call")
    if not isinstance(name, str):
        ctx.error(where, f"expected a function name, got {name!r}")
        name = ""
    elif env.hooks is not None and env.hooks.function(name) is None:
        if env.hook_specs:
            modules = ", ".join(env.hook_specs)
            hint = env.suggest(name, env.hooks.names())
            ctx.error(where, f"hook function {name!r} not found in {modules}{hint}")
        else:
            ctx.error(where, f"hook function {name!r} not found: the scenario declares no 'hooks'")
    return CallStep(name, ctx.source(path))


def build_call(step: CallStep, env: StepBuildEnv) -> Executor:
    function = env.hooks.function(step.function)
    row = env.stats.row(step.function, "CALL")
    hooks = env.hooks
    now = env.clock.now

    def run(user: StepUser) -> bool:
        start = now()
        try:
            function(user)
        except (StopUser, StopTest) as stop:
            raise hooks.stopped(step.function, stop, user) from None
        except Exception as exc:
            hooks.report_exception(step.function, exc)
            row.failure(now() - start, error_text(exc))
            return False
        except ESCAPES as exc:  # a hook never ends the process: its failure, as data
            contained = HookExit(step.function, exc)
            contained.__cause__ = exc
            hooks.report_exception(step.function, contained)
            row.failure(now() - start, str(contained))
            return False
        return True

    return run


SCHEMA = {
    "call_step": one_key_step(
        "call",
        "Call a hook function.",
        {
            "$ref": "#/$defs/identifier",
            "description": "Name of a function in a hook module; called as fn(user).",
        },
    )
}

KIND = StepKind(
    name="call",
    keys={"call": "Run a function of a hook module with the user context."},
    plan_type=CallStep,
    compile=compile_call,
    build=build_call,
    schema=SCHEMA,
    stats_method="CALL",
)
