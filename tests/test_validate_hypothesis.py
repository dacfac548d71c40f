"""Property: whatever a scenario is mutated into, validation reports Problems, never crashes.

Valid scenarios are mutated (keys dropped, values replaced by wrong types, unknown
keys inserted, deep nesting), dumped to YAML and sent through the whole pipeline:
loads -> schema_problems -> compile_document. Only located Problems may come out.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yamlswarm.errors import Problem, ScenarioError
from yamlswarm.scenario.loader import loads
from yamlswarm.scenario.schema import is_valid
from yamlswarm.scenario.validate import schema_problems

ROOT = Path(__file__).resolve().parent.parent
INLINE = """\
version: 1
host: http://127.0.0.1:8080
variables: {api: /api/v1}
defaults: {headers: {Accept: application/json}, timeout: 10s}
load: {users: 4, spawn_rate: 2/s, duration: 1m, iterations: 100}
users:
  - name: shopper
    weight: 2
    wait: {between: [1s, 2s]}
    on_start:
      - post: /login
        json: {username: u, password: secret}
        extract: {token: {jmespath: access_token}}
    flows:
      - name: browse
        steps:
          - get: "{{ api }}/products"
            headers: {Authorization: "Bearer {{ token }}"}
            check: {status: [200, 2xx], jmespath: [{expr: "length(products)", gt: 0}]}
            extract: {pid: {jmespath: "products[0].id", default: 1}}
          - think: {between: [1s, 2s]}
          - loop: {count: 2, steps: [{get: "{{ api }}/products/{{ pid }}"}]}
          - if: "{{ pid > 0 }}"
            then: [{set: {n: "{{ pid }}"}}]
            else: [{log: "no product"}]
          - group: {name: cart, steps: [{post: "{{ api }}/cart", json: {product_id: "{{ pid }}"}}]}
thresholds: ["p95 < 500ms", {expr: "error_rate < 1%", abort: true, after: 10s}]
"""


def _bases() -> list[tuple[str, Any]]:
    bases = [(str(ROOT / "inline.yaml"), yaml.safe_load(INLINE))]
    for path in sorted((ROOT / "scenarios").glob("*.yaml"))[:4]:
        bases.append((str(path), yaml.safe_load(path.read_text(encoding="utf-8"))))
    return bases


BASES = _bases()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "5mins",
            "2xy",
            "{{ x + }}",
            "{{ nope }}",
            "p95 <",
            "products[0.id",
            "-1",
            "1m30s",
            "GET",
            "gett",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_paths(value, (*path, i)))
    return found


def _parent(root: Any, path: tuple) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


def _mutate(data: Any, draw: Any) -> Any:
    path = draw(st.sampled_from(_paths(data)))
    kind = draw(st.sampled_from(["drop", "replace", "insert", "nest", "copy_key"]))
    if not path:
        return draw(values) if kind == "replace" else data
    parent, last = _parent(data, path), path[-1]
    if kind == "drop":
        del parent[last]
    elif kind == "replace":
        parent[last] = draw(values)
    elif kind == "insert" and isinstance(parent[last], dict):
        parent[last][draw(st.text(min_size=1, max_size=10))] = draw(values)
    elif kind == "nest":
        value = parent[last]
        for _ in range(draw(st.integers(1, 40))):
            value = draw(
                st.sampled_from([[value], {"steps": [value]}, {"loop": {"steps": [value]}}])
            )
        parent[last] = value
    elif kind == "copy_key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["get", "post", "think", "users", "count", "stages"]))] = (
            parent[last]
        )
    return data


def _run(file: str, data: Any) -> list[Problem]:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        doc = loads(text, file)
        problems = schema_problems(doc)
        if not problems:
            from yamlswarm.compiler import compile_document

            compile_document(doc, render_variables=False)
    except ScenarioError as exc:
        problems = exc.problems
    return problems


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), data=st.data())
def test_mutated_scenarios_only_ever_give_located_problems(
    base: tuple[str, Any], data: Any
) -> None:
    file, tree = base
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        tree = _mutate(tree, data.draw)
    for problem in _run(file, tree):
        assert isinstance(problem, Problem)
        assert problem.line >= 1, problem.render()
        assert problem.message and "Traceback" not in problem.message


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(BASES), data=st.data())
def test_fast_check_agrees_with_jsonschema(base: tuple[str, Any], data: Any) -> None:
    from jsonschema import Draft202012Validator

    from yamlswarm.scenario.schema import schema

    tree = copy.deepcopy(base[1])
    tree = _mutate(tree, data.draw)
    tree = yaml.safe_load(yaml.safe_dump(tree))
    if _text_keys_only(tree):
        assert is_valid(tree) == Draft202012Validator(schema()).is_valid(tree)


def _text_keys_only(data: Any) -> bool:
    if isinstance(data, dict):
        return all(isinstance(k, str) and _text_keys_only(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_text_keys_only(v) for v in data)
    return True
