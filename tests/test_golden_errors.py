"""Golden-file tests: the exact text `yamlswarm validate` prints for each invalid fixture.

Each tests/fixtures/invalid/NAME.yaml has NAME.expected beside it. After an intended
change of wording, rewrite them with:  UPDATE_GOLDEN=1 pytest tests/test_golden_errors.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yamlswarm.errors import ScenarioError
from yamlswarm.scenario.validate import validate_files

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "invalid"
CASES = sorted(FIXTURES.glob("*.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _rendered(relative: str) -> str:
    problems = validate_files([relative])
    assert problems, f"{relative} is expected to be invalid"
    return ScenarioError(problems).render() + "\n"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 18


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    relative = case.relative_to(ROOT).as_posix()
    actual = _rendered(relative)
    expected_file = case.with_suffix(".expected")
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no {expected_file.name}: run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")
