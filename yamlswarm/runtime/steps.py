"""Step executors: each plan step becomes, once per process, a small function `run(user) -> bool`.

`build_steps` hands every plan step to the runtime builder of its kind (the
registry `yamlswarm.kinds`); kinds with nested steps (loop, if, group) build
them through `StepBuildEnv.block`. Everything that can be decided before the
run — constant URLs, request heads, JSON bodies, stats rows, checkers — is
decided by the builders, so one request of one user does only what its
templates require. An executor returns False when its step failed; only stop
signals (`runtime.signals`) unwind a user.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from yamlswarm.kinds import KINDS
from yamlswarm.kinds.base import StepBuildEnv
from yamlswarm.plan import Step
from yamlswarm.runtime.context import BuildEnv, Executor
from yamlswarm.runtime.signals import StopIterationSignal

__all__ = ["BUILDERS", "build_steps", "run_steps"]

BUILDERS = {kind.plan_type: kind.build for kind in KINDS}


def build_steps(steps: Sequence[Step], env: BuildEnv) -> tuple[Executor, ...]:
    """The executors of a list of plan steps, in order."""
    kind_env = _with_blocks(env)
    return tuple(BUILDERS[type(step)](step, kind_env) for step in steps)


def run_steps(executors: tuple[Executor, ...], user: Any) -> bool:
    """Run steps in order; in a `stop_on_failure` flow a failure ends the iteration."""
    ok = True
    for execute in executors:
        if not execute(user):
            ok = False
            if user.stop_on_failure:
                raise StopIterationSignal()
    return ok


def _build_block(steps: Sequence[Step], env: StepBuildEnv) -> Executor:
    executors = build_steps(steps, env)

    def run(user: Any) -> bool:  # run_steps' loop, inlined: a nested block costs one call
        ok = True
        for execute in executors:
            if not execute(user):
                ok = False
                if user.stop_on_failure:
                    raise StopIterationSignal()
        return ok

    return run


def _with_blocks(env: BuildEnv) -> StepBuildEnv:
    """The run's env as kinds see it: the same values, plus how to build nested steps."""
    if isinstance(env, StepBuildEnv):
        return env
    values = {f.name: getattr(env, f.name) for f in dataclasses.fields(env) if f.init}
    return StepBuildEnv(**values, build_block=_build_block)
