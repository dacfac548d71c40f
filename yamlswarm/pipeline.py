"""The one-way pipeline for a run: load -> validate -> compile -> (overrides) -> plan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from yamlswarm import plan as p
from yamlswarm.errors import UsageError
from yamlswarm.settings import RunSettings


def load_plan(path: str | Path, settings: RunSettings) -> p.Plan:
    """A runnable plan from a scenario file, or a ScenarioError / HookImportError / UsageError."""
    from yamlswarm.compiler import compile_document
    from yamlswarm.loader import load_file
    from yamlswarm.validate import check_document

    doc = load_file(path)
    check_document(doc)
    plan = compile_document(doc, env=settings.env, render_variables=True, hooks="raise")
    return apply_overrides(plan, settings)


def apply_overrides(plan: p.Plan, settings: RunSettings) -> p.Plan:
    """Command-line overrides that change the plan itself (the host)."""
    host = settings.host or plan.host
    if host is None:
        raise UsageError("no host to send requests to: set 'host:' in the scenario or pass --host URL")
    if not host.startswith(("http://", "https://")):
        raise UsageError(f"host {host!r} must start with http:// or https://")
    from urllib.parse import urlsplit

    parts = urlsplit(host)
    try:
        parts.port
    except ValueError:
        raise UsageError(f"host {host!r} has an invalid port") from None
    if not parts.hostname:
        raise UsageError(f"host {host!r} has no host name")
    return dataclasses.replace(plan, host=host.rstrip("/"))
