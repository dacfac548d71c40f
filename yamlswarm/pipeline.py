"""The one-way pipeline for a run: load -> validate -> compile -> (command-line overrides) -> plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlsplit

from yamlswarm import plan as p
from yamlswarm.errors import UsageError
from yamlswarm.settings import RunSettings


def load_plan(path: str | Path, settings: RunSettings) -> p.Plan:
    """A runnable plan from a scenario file, or a ScenarioError / HookImportError / UsageError."""
    from yamlswarm.compiler import compile_document
    from yamlswarm.errors import ScenarioError
    from yamlswarm.loader import load_file
    from yamlswarm.validate import document_problems, schema_problems

    doc = load_file(path)
    if schema_problems(doc):
        raise ScenarioError(document_problems(doc))  # every mistake at once, as `validate` shows
    plan = compile_document(doc, env=settings.env, render_variables=True, hooks="raise")
    return apply_overrides(plan, settings)


def apply_overrides(plan: p.Plan, settings: RunSettings) -> p.Plan:
    """The plan as the command line changes it: host, users, spawn rate, duration, iterations, trace.

    After this, the runtime reads the load model from the plan alone; `--duration`
    on a stages or open model stays a time cap (RunSettings.duration).
    """
    return dataclasses.replace(plan, host=_host(plan, settings), **_load_overrides(plan, settings))


def _host(plan: p.Plan, settings: RunSettings) -> str:
    host = settings.host or plan.host
    if host is None:
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
