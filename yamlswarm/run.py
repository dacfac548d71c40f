"""The `run` command's orchestration: load -> validate -> compile -> overrides -> run -> results.

`load_plan` is the one-way pipeline up to a runnable plan; `run_scenario` and
`run_plan` run it in this process; `finish_run` turns stats into the result,
the table, the output files and the exit code (shared with a distributed master).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from yamlswarm import plan as p
from yamlswarm.errors import InternalError, Interrupted, StartError, UsageError
from yamlswarm.settings import RunSettings

if TYPE_CHECKING:
    from yamlswarm.runtime.observers import Observers


def load_plan(path: str | Path, settings: RunSettings) -> p.Plan:
    """A runnable plan from a scenario file, or a ScenarioError / HookImportError / UsageError."""
    from yamlswarm.compiler import compile_document
    from yamlswarm.errors import ScenarioError
    from yamlswarm.scenario.loader import load_file
    from yamlswarm.scenario.validate import document_problems, schema_problems

    doc = load_file(path)
    if schema_problems(doc):
        raise ScenarioError(document_problems(doc))  # every mistake at once, as `validate` shows
    plan = compile_document(doc, env=settings.env, render_variables=True, hooks="raise")
    return apply_overrides(plan, settings)


def apply_overrides(plan: p.Plan, settings: RunSettings) -> p.Plan:
    """The plan as the command line changes it: the selected flows and user types (--tags,
    --exclude-tags, --user-type), host, users, spawn rate, duration, iterations, trace.

    After this, the runtime reads the load model from the plan alone; `--duration`
    on a stages or open model stays a time cap (RunSettings.duration).
    """
    from yamlswarm.selection import select

    plan = select(plan, settings.selection)
    return dataclasses.replace(plan, host=_host(plan, settings), **_load_overrides(plan, settings))


def _host(plan: p.Plan, settings: RunSettings) -> str | None:
    host = settings.host or plan.host
    if host is None:
        if not _sends_requests(plan):
            return None  # only hooks talk to the network (e.g. MQTT timed with user.measure)
        raise UsageError(
            "no host to send requests to: set 'host:' in the scenario or pass --host URL"
        )
    if not host.startswith(("http://", "https://")):
        raise UsageError(f"host {host!r} must start with http:// or https://")
    parts = urlsplit(host)
    try:
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError:
        raise UsageError(f"host {host!r} has an invalid port") from None
    if not parts.hostname:
        raise UsageError(f"host {host!r} has no host name")
    return host.rstrip("/")


def _sends_requests(plan: p.Plan) -> bool:
    """Whether a step of the plan needs `host` (a request or a WebSocket step)."""
    from yamlswarm.kinds import walk
    from yamlswarm.runtime.ws_plan import WebSocketStep

    for user in plan.users:
        blocks = [user.on_start, user.on_stop, *(flow.steps for flow in user.flows)]
        if any(isinstance(s, (p.RequestStep, WebSocketStep)) for b in blocks for s in walk(b)):
            return True
    return False


def _load_overrides(plan: p.Plan, settings: RunSettings) -> dict:
    load = plan.load
    if settings.trace:
        return {
            "load": p.IterationsLoad(settings.trace, 1, source=load.source),
            "iterations_cap": None,
        }
    users, rate, duration, iterations = (
        settings.users,
        settings.spawn_rate,
        settings.duration,
        settings.iterations,
    )
    if isinstance(load, p.ClosedLoad):
        load = dataclasses.replace(
            load,
            users=users or load.users,
            spawn_rate=rate or load.spawn_rate,
            duration=duration if duration is not None else load.duration,
        )
        return {"load": load, "iterations_cap": iterations or plan.iterations_cap}
    if isinstance(load, p.IterationsLoad):
        load = dataclasses.replace(
            load, users=users or load.users, iterations=iterations or load.iterations
        )
        return {"load": load}
    if users or rate:
        flag = "--users" if users else "--spawn-rate"
        raise UsageError(
            f"{flag} applies to a closed or iterations model; this scenario's load "
            f"model is '{load.kind}' (change its {_model_key(load)} instead)"
        )
    return {"iterations_cap": iterations or plan.iterations_cap}


def _model_key(load: p.Load) -> str:
    return "stages" if isinstance(load, p.StagesLoad) else "arrival phases and max_users"


def run_scenario(
    path: str | Path, settings: RunSettings, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Validate, compile and run a scenario; print and write the results; return the exit code."""
    plan = load_plan(path, settings)
    return run_plan(plan, settings, out=out or sys.stdout, err=err or sys.stderr)


def run_plan(plan: p.Plan, settings: RunSettings, *, out: TextIO, err: TextIO) -> int:
    from yamlswarm.hookmodules import load_hooks
    from yamlswarm.observing import ObserveEnv, build_observers
    from yamlswarm.report.live import LiveProgress
    from yamlswarm.runtime.hook_calls import HookRunner
    from yamlswarm.runtime.runner import Runner

    hooks = HookRunner(load_hooks(plan.hooks) if plan.hooks else None, err=err)
    warn_if_unreachable(plan, err)
    trace = None
    if settings.trace:
        from yamlswarm.report.trace import TracePrinter

        trace = TracePrinter(out, colour=settings.colour)
    quiet = settings.quiet or bool(settings.trace)
    live = LiveProgress(out, interactive=settings.interactive, quiet=quiet)
    steering = make_steering(plan, settings)
    observers = build_observers(ObserveEnv(plan, settings, out, err, "local", steering))
    runner = Runner(
        plan,
        settings,
        hooks=hooks,
        live=live,
        out=out,
        err=err,
        trace=trace,
        observers=observers,
        steering=steering,
    )
    _announce(plan, settings, out)
    with _watchdog(plan, settings, runner, out=out, err=err):  # until the results are written
        runner.run()
        live.finish()
        if settings.trace and plan.thresholds:
            print("(thresholds are not evaluated in --trace mode)", file=out)
            plan = dataclasses.replace(plan, thresholds=())
        code = finish_run(
            plan,
            settings,
            runner.stats,
            elapsed=runner.elapsed,
            interrupted=runner.interrupted,
            aborted=runner.aborted,
            on_test_stop=(
                (lambda result, code: hooks.test_stop(runner.test_ctx, result, code))
                if hooks.on_test_stop
                else None
            ),
            out=out,
            err=err,
            observers=observers,
        )
        if runner.bug is not None:  # the results so far are written; now say what broke
            raise InternalError(runner.bug)
        return code


def _announce(plan: p.Plan, settings: RunSettings, out: TextIO) -> None:
    """The run's first line: what runs against what (and the tag selection, if any)."""
    selection = settings.selection.describe()
    print(
        f"yamlswarm: running {plan.name!r}{f' against {plan.host}' if plan.host else ''}"
        f" ({describe_load(plan)})" + (f"\nselection: {selection}" if selection else ""),
        file=out,
        flush=True,
    )


def _watchdog(plan: p.Plan, settings: RunSettings, runner: Any, *, out: TextIO, err: TextIO) -> Any:
    """The event-loop watchdog of a local run: it takes over Ctrl-C, names what blocks the
    loop and, when the run cannot end by itself, writes the results so far and exits."""
    from yamlswarm.runtime.watchdog import Watchdog
    from yamlswarm.runtime.workload import model_duration

    duration = settings.duration if settings.duration is not None else model_duration(plan.load)

    def run_end() -> float | None:
        started = runner.started_at
        return started + duration if started and duration is not None else None

    def emergency(reason: str) -> int:
        print(f"\nyamlswarm: {reason}: ending now with the results so far", file=err, flush=True)
        interrupted = runner.interrupted or dog.signals > 0
        code = finish_run(
            plan, settings, runner.stats, elapsed=runner.elapsed, interrupted=interrupted,
            aborted=None, out=out, err=err,
        )  # fmt: skip
        return code if interrupted else StartError.exit_code

    runner.handle_signals = False
    dog = Watchdog(
        err=err,
        on_signal=runner.interrupt,
        run_end=run_end,
        stop_timeout=settings.stop_timeout,
        emergency=emergency,
    )
    return dog


def make_steering(plan: p.Plan, settings: RunSettings) -> Any:
    """The start gate and live targets of a run steered from the web UI (None without --web)."""
    if not settings.web:
        return None
    from yamlswarm.runtime.steering import Steering

    return Steering(
        plan.load, wait_for_start=not settings.autostart, spawn_rate=settings.spawn_rate
    )


def warn_if_unreachable(plan: p.Plan, err: TextIO) -> None:
    """A clear message when the target refuses or cannot be resolved; the run still goes on."""
    from yamlswarm.runtime.http.message import parse_origin
    from yamlswarm.runtime.http.session import check_reachable

    if plan.host:
        problem = check_reachable(parse_origin(plan.host), proxy=plan.defaults.proxy)
        if problem:
            print(
                f"warning: {problem}; requests will fail and be reported as errors",
                file=err,
                flush=True,
            )


def finish_run(
    plan: p.Plan,
    settings: RunSettings,
    stats: Any,
    *,
    elapsed: float,
    interrupted: bool,
    aborted: str | None,
    out: TextIO,
    err: TextIO,
    on_test_stop: Callable[[dict[str, Any], int], int] | None = None,
    extra: dict[str, Any] | None = None,
    observers: Observers | None = None,
) -> int:
    """Result, thresholds, table and output files of a finished run; returns the exit code.

    Shared by a local run and a distributed master (whose `stats` are the merged ones).
    `on_test_stop(result, exit_code)` runs the hooks of that name with the result as the
    JSON output has it, before the table and the files; it returns the exit code, which
    the hooks may have changed (`ctx.exit_code`).
    """
    from yamlswarm.export.provenance import masked_host
    from yamlswarm.report import table
    from yamlswarm.report.files import attach_percentiles
    from yamlswarm.report.outputs import write_outputs
    from yamlswarm.result import describe_model
    from yamlswarm.runtime.slo import evaluate

    result = stats.snapshot(
        scenario=plan.name,
        model=describe_model(plan.load, plan.iterations_cap),
        thresholds=[evaluate(t, stats, elapsed) for t in plan.thresholds],
        duration_s=elapsed,
        interrupted=interrupted,
        aborted=aborted,
    )
    exit_code = _exit_code(result, settings, interrupted)
    result.exit_code = exit_code
    if extra:
        result.cluster = dict(extra)
    if settings.selection:
        result.selection = settings.selection.to_dict()
    result.host, result.scenario_file = masked_host(plan.host), plan.file
    result.command = list(settings.command) or None
    attach_percentiles(result, stats)  # Locust's 66%, 75%, ... for the CSV
    if on_test_stop is not None:
        exit_code = result.exit_code = on_test_stop(result.to_dict(), exit_code)
    print(f"\n{table.render(result)}", file=out, flush=True)
    if aborted:
        print(f"aborted: threshold {aborted!r} failed", file=out, flush=True)
    if not write_outputs(result, settings.outputs, err) and exit_code == 0:
        exit_code = UsageError.exit_code
    if observers is not None:
        observers.close(result)
    return exit_code


def _exit_code(result: Any, settings: RunSettings, interrupted: bool) -> int:
    """130 when interrupted, 1 when a threshold failed, `--exit-code-on-error` N when a request
    failed (and no threshold did), else 0."""
    if interrupted:
        return Interrupted.exit_code
    if not result.passed:
        return 1
    if settings.exit_code_on_error is not None and result.totals.failures:
        return settings.exit_code_on_error
    return 0


def describe_load(plan: p.Plan) -> str:
    """One line for the banner: the load model after command-line overrides."""
    load = plan.load
    if isinstance(load, p.ClosedLoad):
        return f"{load.users} users" + (f" for {load.duration:g}s" if load.duration else "")
    if isinstance(load, p.IterationsLoad):
        return (
            f"{load.iterations} iterations with {load.users} user{'s' if load.users != 1 else ''}"
        )
    if isinstance(load, p.StagesLoad):
        return f"{len(load.stages)} stages, up to {max(s.users for s in load.stages)} users"
    peak = max(max(ph.rate, ph.ramp_to or 0) for ph in load.phases)  # the open model
    return f"open model, up to {peak:g} iterations/s, max {load.max_users} users"
