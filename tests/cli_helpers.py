"""Running the yamlswarm CLI as a user would: a real subprocess, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI subprocess: this one's without YAMLSWARM_* options, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLSWARM_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("COLUMNS", None)
    env.update(extra or {})
    return env


def yamlswarm(
    *args: str, timeout: float = 120, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `yamlswarm ARGS...` to completion (`env`: extra variables); the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "yamlswarm", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(env),
        cwd=cwd or REPO,
    )


def start_yamlswarm(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    """Start `yamlswarm ARGS...` in the background (for Ctrl-C tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "yamlswarm", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=cwd or REPO,
    )


def run_json(
    tmp_path: Path,
    text: str,
    host: str,
    *extra: str,
    name: str = "scenario.yaml",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Write a scenario, `yamlswarm run` it quietly against `host` with `--json`; the process
    and the JSON result (None when none was written)."""
    scenario = write_scenario(tmp_path, text, name)
    out = tmp_path / "result.json"
    out.unlink(missing_ok=True)
    run = yamlswarm("run", scenario, "--host", host, "--json", out, "-q", *extra, env=env)
    return run, (json.loads(out.read_text()) if out.exists() else None)
