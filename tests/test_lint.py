"""Code quality gates run with the tests: ruff lint and format, mypy on the package."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.cli_helpers import REPO


def _tool(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]' brings it)")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_and_format():
    _tool("ruff")
    paths = ["yamlswarm", "tests", "benchmarks", "--exclude", "benchmarks/.venv-locust"]
    lint = _run("ruff", "check", *paths)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = _run("ruff", "format", "--check", *paths)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_on_the_package():
    _tool("mypy")
    result = _run("mypy", "yamlswarm")
    assert result.returncode == 0, result.stdout + result.stderr
