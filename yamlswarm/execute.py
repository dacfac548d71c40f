"""Running a scenario end to end in this process: plan, users, live progress, results, exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from yamlswarm import plan as p
from yamlswarm.errors import Interrupted
from yamlswarm.settings import RunSettings


def run_scenario(path: str | Path, settings: RunSettings, *, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """Validate, compile and run a scenario; print and write the results; return the exit code."""
    from yamlswarm.pipeline import load_plan

    out = out or sys.stdout
    err = err or sys.stderr
    plan = load_plan(path, settings)
    return run_plan(plan, settings, out=out, err=err)


def run_plan(plan: p.Plan, settings: RunSettings, *, out: TextIO, err: TextIO) -> int:
    from yamlswarm.hooks import load_hooks
    from yamlswarm.report import files, table
    from yamlswarm.report.live import LiveProgress
    from yamlswarm.result import describe_model
    from yamlswarm.runtime.hooks import HookRunner
    from yamlswarm.runtime.http import check_reachable, parse_origin
    from yamlswarm.runtime.runner import Runner
    from yamlswarm.runtime.slo import evaluate

    hooks = HookRunner(load_hooks(plan.hooks) if plan.hooks else None, err=err)
    if plan.host:
        problem = check_reachable(parse_origin(plan.host))
        if problem:
            print(f"warning: {problem}; requests will fail and be reported as errors", file=err, flush=True)
    live = LiveProgress(out, interactive=settings.interactive, quiet=settings.quiet)
    runner = Runner(plan, settings, hooks=hooks, live=live, out=out, err=err)
    print(f"yamlswarm: running {plan.name!r} against {plan.host} ({_describe(plan, settings)})",
          file=out, flush=True)
    runner.run()
    live.finish()
    elapsed = runner.elapsed
    result = runner.stats.snapshot(
        scenario=plan.name,
        model=describe_model(plan.load, plan.iterations_cap),
        thresholds=[evaluate(t, runner.stats, elapsed) for t in plan.thresholds],
        duration_s=elapsed,
        interrupted=runner.interrupted,
        aborted=runner.aborted,
    )
    exit_code = Interrupted.exit_code if runner.interrupted else (0 if result.passed else 1)
    result.exit_code = exit_code
    if hooks.on_test_stop:
        hooks.call_each(hooks.on_test_stop, runner, result)
    print(table.render(result), file=out, flush=True)
    _write_outputs(result, settings, files, err)
    return exit_code


def _write_outputs(result, settings: RunSettings, files, err: TextIO) -> None:  # type: ignore[no-untyped-def]
    writers = {"json": files.write_json, "csv": files.write_csv, "junit": files.write_junit}
    for kind, path in settings.outputs.items():
        writer = writers.get(kind)
        if writer is None:
            print(f"warning: --{kind} output is not available yet", file=err)
            continue
        writer(result, path)
        print(f"wrote {kind}: {path}", file=err, flush=True)


def _describe(plan: p.Plan, settings: RunSettings) -> str:
    load = plan.load
    if isinstance(load, p.ClosedLoad):
        users = settings.users or load.users
        duration = settings.duration if settings.duration is not None else load.duration
        return f"{users} users" + (f" for {duration:g}s" if duration else "")
    if isinstance(load, p.IterationsLoad):
        iterations = settings.iterations or load.iterations
        return f"{iterations} iterations with {settings.users or load.users} users"
    return load.kind
