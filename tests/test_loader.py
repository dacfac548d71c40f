import pytest

from yamlswarm.errors import ScenarioError
from yamlswarm.scenario.loader import load_file, loads


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
