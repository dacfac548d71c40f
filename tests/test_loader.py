import os

import pytest

from tests.cli_helpers import yamlswarm
from yamlswarm.errors import ScenarioError
from yamlswarm.scenario.loader import MAX_FILE_BYTES, load_file, loads


def test_positions_of_keys_and_values():
    doc = loads("a: 1\nb:\n  - x: 2\n", "f.yaml")
    assert doc.data == {"a": 1, "b": [{"x": 2}]}
    assert doc.source_map.locate(("b", 0, "x")) == (3, 8)
    assert doc.source_map.locate(("b", 0, "x"), key=True) == (3, 5)
    # an unknown path falls back to its nearest ancestor
    assert doc.source_map.locate(("b", 0, "nope")) == (3, 5)


def test_duplicate_key_is_located():
    with pytest.raises(ScenarioError) as info:
        loads("a: 1\nb: 2\na: 3\n", "f.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (3, 1)
    assert "duplicate key 'a' (first defined on line 1)" in problem.message


def test_syntax_error_is_located():
    with pytest.raises(ScenarioError) as info:
        loads("a: b: c\n", "f.yaml")
    text = info.value.render()
    assert text.startswith("f.yaml:1:5: YAML syntax error")
    assert "    a: b: c\n        ^" in text


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="problem"):
        load_file(tmp_path / "none.yaml")


def test_merge_keys_and_empty_document():
    assert loads("x: &a {k: 1}\ny: {<<: *a, z: 2}\n").data["y"] == {"k": 1, "z": 2}
    assert loads("").data is None


# ---------------------------------------------------------------- hostile documents

BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def _only_problem(text: str) -> object:
    with pytest.raises(ScenarioError) as info:
        loads(text, "f.yaml")
    (problem,) = info.value.problems
    return problem


def test_alias_bomb_stops_before_expanding():
    assert len(BILLION_LAUGHS) < 450
    problem = _only_problem(BILLION_LAUGHS)  # fast, and no MemoryError
    assert "makes the document too large: more than 200,000 keys and values" in problem.message
    assert problem.message.startswith("alias *")
    assert problem.line == 6 and problem.source_line.startswith("f: &f [*e")


def test_aliases_within_the_bound_still_work():
    doc = loads("a: &a {k: [1, 2]}\nb: [*a, *a]\n")
    assert doc.data["b"] == [{"k": [1, 2]}, {"k": [1, 2]}]


def test_a_recursive_alias_is_refused():
    problem = _only_problem("a: &a [1, *a]\n")
    assert (problem.line, problem.column) == (1, 11)
    assert problem.message == "alias *a refers to a value that contains it"


def test_too_many_values_without_aliases():
    problem = _only_problem("a: [" + ", ".join(["1"] * 200_001) + "]\n")
    assert problem.message == "the document is too large: more than 200,000 keys and values"


@pytest.mark.parametrize("opening,closing", [("[", "]"), ("{a: ", "}")])
def test_nesting_depth_is_bounded(opening, closing):
    problem = _only_problem("x: " + opening * 300 + "1" + closing * 300 + "\n")
    assert problem.message == "nesting deeper than 200 levels"


def test_a_deep_alias_used_deep_is_bounded():
    deep = "[" * 150 + "1" + "]" * 150
    problem = _only_problem(f"a: &a {deep}\nb: {'[' * 100}*a{']' * 100}\n")
    assert problem.message == "nesting deeper than 200 levels"


def test_keys_that_read_the_same_are_reported_as_written():
    problem = _only_problem("query:\n  on: sale\n  1: x\n")
    assert problem.message == (
        "key '1' clashes with 'on' on line 2: YAML reads them as 1 and true, the same key; "
        "quote the keys to keep them apart"
    )
    assert problem.dotted_path == "query.1" and (problem.line, problem.column) == (3, 3)
    assert "YAML reads both as true" in _only_problem("q:\n  yes: a\n  on: b\n").message
    assert loads("q:\n  'on': a\n  '1': b\n").data == {"q": {"on": "a", "1": "b"}}


def test_merged_keys_are_overridden_not_duplicates():
    doc = loads("x: &a {k: 1, j: 2}\ny: {<<: *a, k: 3}\nz: {<<: [{k: 4}, *a]}\n")
    assert doc.data["y"] == {"j": 2, "k": 3}
    assert doc.data["z"] == {"k": 4, "j": 2}  # earlier sources win, as in PyYAML
    assert "merge key" in _only_problem("c: {<<: 3}\n").message


# ---------------------------------------------------------------- special files


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError) as info:
        load_file(fifo)  # would block forever if it were opened for a plain read
    assert info.value.problems[0].message == (
        "is a FIFO (named pipe), not a regular file: a scenario must be a plain YAML file"
    )


def test_a_device_is_refused():
    with pytest.raises(ScenarioError) as info:
        load_file("/dev/zero")
    assert "is a character device, not a regular file" in info.value.problems[0].message


def test_a_huge_file_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ScenarioError) as info:
        load_file(big)
    assert "is larger than the 10 MiB limit" in info.value.problems[0].message


def test_validate_cli_on_special_files(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    done = yamlswarm("validate", fifo, "/dev/zero", timeout=30)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    output = done.stdout + done.stderr
    assert "pipe.yaml: is a FIFO (named pipe), not a regular file" in output
    assert "/dev/zero: is a character device, not a regular file" in output


def test_aliases_of_long_strings_are_bounded_by_characters():
    text = f"a: &a {'x' * 1_000_000}\nb: [{', '.join(['*a'] * 30)}]\n"
    problem = _only_problem(text)
    assert problem.message == (
        "alias *a makes the document too large: more than 20,000,000 characters "
        "once aliases are expanded"
    )
    assert problem.line == 2
