"""The JSON Schema: well-formed, documented, strict, shipped by `yamlswarm schema`, and
the fast `is_valid` check agrees with jsonschema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from yamlswarm.scenario.schema import is_valid, schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml"))


def _subschemas(node: Any, path: str = "#") -> list[tuple[str, dict]]:
    """Every dict schema inside the schema, with a readable location."""
    found: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs", "dependentSchemas"):
                for name, sub in value.items():
                    found.extend(_subschemas(sub, f"{path}/{key}/{name}"))
            elif key in ("items", "additionalProperties", "not", "if", "then", "else"):
                found.extend(_subschemas(value, f"{path}/{key}"))
            elif key in ("allOf", "anyOf", "oneOf"):
                for i, sub in enumerate(value):
                    found.extend(_subschemas(sub, f"{path}/{key}/{i}"))
    return found


def _resolve(sub: dict) -> dict:
    ref = sub.get("$ref")
    return schema()["$defs"][ref.split("/")[-1]] if ref else sub


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema()["$id"] and schema()["title"]


def test_every_object_with_properties_forbids_unknown_keys() -> None:
    loose = [
        where
        for where, sub in _subschemas(schema())
        if ("properties" in sub or "patternProperties" in sub)
        and sub.get("additionalProperties") is not False
        and "allOf" not in sub
    ]  # the step dispatcher: its `then` branches are strict
    assert loose == []


def test_every_property_has_a_description() -> None:
    missing = []
    for where, sub in _subschemas(schema()):
        for name, prop in {**sub.get("properties", {}), **sub.get("patternProperties", {})}.items():
            if not (prop.get("description") or _resolve(prop).get("description")):
                missing.append(f"{where}/{name}")
    assert missing == []


def test_every_def_is_used() -> None:
    text = json.dumps(schema())
    unused = [name for name in schema()["$defs"] if f'"#/$defs/{name}"' not in text]
    assert unused == []


def test_schema_text_is_pretty_json_with_a_newline() -> None:
    text = schema_text()
    assert text.endswith("}\n")
    assert json.loads(text) == schema()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_example_scenarios_validate_with_plain_jsonschema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(schema()).iter_errors(data)]
    assert errors == []


def _loadable(paths: list[Path]) -> list[tuple[str, Any]]:
    out = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if _text_keys_only(data):  # jsonschema itself cannot handle keys like `on:` (true)
            out.append((path.name, data))
    return out


def _text_keys_only(data: Any) -> bool:
    if isinstance(data, dict):
        return all(isinstance(k, str) and _text_keys_only(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_text_keys_only(v) for v in data)
    return True


@pytest.mark.parametrize("name,data", _loadable(SCENARIOS + FIXTURES))
def test_fast_check_agrees_with_jsonschema(name: str, data: Any) -> None:
    assert is_valid(data) == Draft202012Validator(schema()).is_valid(data)


def test_fast_check_rejects_what_jsonschema_rejects() -> None:
    base = {"version": 1, "users": [{"flows": [{"steps": [{"get": "/"}]}]}]}
    assert is_valid(base)
    variants = [
        {**base, "version": True},
        {**base, "version": 1.0},
        {**base, "users": []},
        {**base, "load": {"users": 1.5}},
        {**base, "load": {"users": 2.0}},
        {**base, "load": {"duration": "1m30s"}},
        {**base, "load": {"duration": "90 seconds"}},
        {**base, "data": {"x-y": {"csv": "a.csv"}}},
        {**base, "users": [{"flows": [{"steps": [{"get": "/", "post": "/"}]}]}]},
        {**base, "users": [{"flows": [{"steps": [{"think": {"between": [1, 2]}}]}]}]},
        {**base, "users": [{"flows": [{"steps": [{"get": "/", "check": {"status": True}}]}]}]},
    ]
    validator = Draft202012Validator(schema())
    for data in variants:
        assert is_valid(data) == validator.is_valid(data), data


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamlswarm", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_schema_prints_the_schema(tmp_path: Path) -> None:
    result = _cli("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == schema()


def test_cli_schema_writes_a_file(tmp_path: Path) -> None:
    result = _cli("schema", "-o", "yamlswarm.schema.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "yamlswarm.schema.json").read_text(encoding="utf-8")
    assert written == schema_text()


def test_cli_schema_write_is_atomic_and_a_failure_is_a_clear_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "out" / "yamlswarm.schema.json"
    done = _cli("schema", "-o", str(target), cwd=tmp_path)  # the directory is created
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text(encoding="utf-8")) == schema()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    blocked = _cli("schema", "-o", str(tmp_path / "ro" / "sub" / "s.json"), cwd=tmp_path)
    (tmp_path / "ro").chmod(0o700)
    if os.geteuid() != 0:  # root writes anywhere
        assert blocked.returncode == 2 and "cannot write" in blocked.stderr
    assert "Traceback" not in blocked.stderr
