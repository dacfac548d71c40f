"""Running a scenario in this process with the real runner and real HTTP sessions (no CLI).

`run_here(tmp_path, text, hooks=...)` writes the scenario (and a `hooks.py`), compiles it
through the real pipeline and runs it on the real clock against real loopback servers;
it returns the runner (its `stats`) and the loaded hook module, so a test reads both what
the server received and what the hooks saw. Faster than a CLI subprocess per case.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

from yamlswarm.hookmodules import load_hooks
from yamlswarm.run import load_plan
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.runner import Runner
from yamlswarm.settings import RunSettings


def run_here(
    tmp_path: Path, text: str, *, hooks: str | None = None, trace: Any = None
) -> tuple[Runner, ModuleType | None]:
    """Run the scenario `text` (version line added; `hooks.py` from `hooks` when given)."""
    body = textwrap.dedent(text).strip()
    if hooks is not None:
        (tmp_path / "hooks.py").write_text(textwrap.dedent(hooks), encoding="utf-8")
        body = f"hooks: hooks.py\n{body}"
    path = tmp_path / "scenario.yaml"
    path.write_text(f"version: 1\n{body}\n", encoding="utf-8")
    settings = RunSettings(seed=1)
    plan = load_plan(path, settings)
    modules = load_hooks(list(plan.hooks)) if plan.hooks else None
    runner = Runner(
        plan,
        settings,
        hooks=HookRunner(modules, err=io.StringIO()),
        out=io.StringIO(),
        err=io.StringIO(),
        trace=trace,
    )
    runner.run()
    return runner, (modules.modules[0] if modules else None)


def row(runner: Runner, name: str, method: str = "GET") -> Any:
    """The stats row `name` / `method` of a finished run (it must exist)."""
    return runner.stats.rows[(name, method)]
