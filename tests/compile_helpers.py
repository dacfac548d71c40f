"""Compiling scenario text in tests: a file in tmp_path, then the compiler (no gevent, no network)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from yamlswarm import plan as p
from yamlswarm.compiler import compile_document
from yamlswarm.errors import ScenarioError
from yamlswarm.scenario.loader import load_file

FLOW = "users:\n  - flows:\n      - steps:\n"


def scenario_file(tmp_path: Path, body: str, name: str = "scenario.yaml") -> Path:
    file = tmp_path / name
    file.write_text("version: 1\n" + textwrap.dedent(body), encoding="utf-8")
    return file


def compile_text(tmp_path: Path, body: str, **options) -> p.Plan:
    return compile_document(load_file(scenario_file(tmp_path, body)), **options)


def problems(tmp_path: Path, body: str, **options) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        compile_text(tmp_path, body, **options)
    return [(pr.dotted_path, pr.message) for pr in info.value.problems]


def steps_of(tmp_path: Path, steps: str, head: str = "", **options) -> tuple[p.Step, ...]:
    body = head + FLOW + textwrap.indent(textwrap.dedent(steps), " " * 10)
    return compile_text(tmp_path, body, **options).users[0].flows[0].steps


def write_file(tmp_path: Path, text: str, name: str = "hooks.py") -> Path:
    file = tmp_path / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file
