"""Validation of scenario files: load (located YAML) -> JSON Schema -> semantic compile.

`schema_problems` answers most documents with the fast `schema.is_valid` check; only
an invalid document pays for jsonschema, whose errors `schema.messages` words for
users. `validate_files` is what `yamlswarm validate` runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from yamlswarm.errors import Problem, ScenarioError
from yamlswarm.scenario.loader import Document, load_file
from yamlswarm.scenario.schema_errors import describe, translate

__all__ = ["check_document", "schema_problems", "validate_files"]

# ---------------------------------------------------------------- public API


def schema_problems(doc: Document) -> list[Problem]:
    """Every schema error of one loaded document, located and worded for a user."""
    if doc.data is None:
        return [
            doc.problem((), "the file is empty: a scenario needs at least 'version: 1' and 'users'")
        ]
    problems, data = _text_keys(doc)
    if not problems and _quick_valid(data):
        return []
    try:
        errors = list(_validator().iter_errors(data))
    except RecursionError:
        return [*problems, doc.problem((), "the document is nested too deeply to validate")]
    problems.extend(translate(doc, errors, _def_names()))
    return _unique(problems)


def check_document(doc: Document) -> None:
    """Raise ScenarioError with every schema problem of `doc`, if any."""
    problems = schema_problems(doc)
    if problems:
        raise ScenarioError(problems)


def validate_files(paths: Iterable[str | Path]) -> list[Problem]:
    """Load, schema-check and compile every file; all problems, sorted by file and position."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(_file_problems(path))
    return sorted(problems, key=Problem.sort_key)


def _file_problems(path: str | Path) -> list[Problem]:
    try:
        doc = load_file(path)
    except ScenarioError as exc:
        return list(exc.problems)
    return document_problems(doc)


def document_problems(doc: Document) -> list[Problem]:
    """Every problem of one loaded document: the schema's, then the compiler's semantic ones.

    The semantic checks (templates, JMESPath, data feeds, hooks, ...) run even when the
    schema found problems, so a user sees every mistake at once; a semantic problem at
    or around a spot the schema already reported is left out, as its consequence.
    """
    from yamlswarm.compiler import compile_document

    found = schema_problems(doc)
    if found and not isinstance(doc.data, dict):
        return found  # not a scenario at all: nothing for the semantic checks to read
    try:
        compile_document(doc, render_variables=False)
        semantic: list[Problem] = []
    except ScenarioError as exc:
        semantic = list(exc.problems)
    except Exception:
        if not found:
            raise
        semantic = []  # a malformed shape the compiler cannot read: the schema problems say why
    return found + [p for p in semantic if not _covered(p, found)]


def _covered(problem: Problem, by: list[Problem]) -> bool:
    path = problem.path
    for other in by:
        shorter = min(len(path), len(other.path))
        if shorter and path[:shorter] == other.path[:shorter]:
            return True
    return False


# ---------------------------------------------------------------- schema plumbing


def _quick_valid(data: Any) -> bool:
    """The fast verdict of `schema.is_valid`; jsonschema is only imported for invalid documents."""
    from yamlswarm.scenario.schema import is_valid

    try:
        return is_valid(data)
    except RecursionError:
        return False


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    from yamlswarm.scenario.schema import schema

    return Draft202012Validator(schema())


@lru_cache(maxsize=1)
def _def_names() -> dict[int, str]:
    """id() of each `$defs` subschema (and the root) -> its name; jsonschema hands out the same dicts."""
    root = _validator().schema
    defs = root.get("$defs", {})
    names = {id(sub): name for name, sub in defs.items()}
    if "status" in defs:  # a list item of a status is a status too
        names[id(defs["status"]["items"])] = "status"
    names[id(root)] = "scenario"
    return names


def _text_keys(doc: Document) -> tuple[list[Problem], Any]:
    """Report mapping keys that YAML read as non-text (`on:` is true) and drop them for the schema."""
    problems: list[Problem] = []

    def clean(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if isinstance(key, str):
                    out[key] = clean(item, (*path, key))
                else:
                    message = f"a key must be text, but this one reads as {describe(key)}: quote it"
                    located = doc.problem((*path, key), message, key=True)
                    problems.append(replace(located, path=path))
            return out
        if isinstance(value, list):
            return [clean(item, (*path, i)) for i, item in enumerate(value)]
        return value

    try:
        return problems, clean(doc.data, ())
    except RecursionError:
        return problems, doc.data


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[tuple[Any, ...], str]] = set()
    out = []
    for problem in sorted(problems, key=Problem.sort_key):
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out
