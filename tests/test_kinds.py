"""The step-kind registry (yamlswarm.kinds) and the extractor table (yamlswarm.extractors):
the schema, the compiler, the runtime and the docs agree on them, and they stay light."""

from __future__ import annotations

import ast
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from yamlswarm.compiler import compile_document
from yamlswarm.errors import ScenarioError
from yamlswarm.extractors import EXTRACTORS
from yamlswarm.hookmodules import load_hooks
from yamlswarm.kinds import BY_KEY, KINDS, STEP_KEYS, walk
from yamlswarm.runtime.context import BuildEnv
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.hook_calls import HookRunner
from yamlswarm.runtime.stats import STEP_METHODS, Stats
from yamlswarm.runtime.steps import BUILDERS, build_steps
from yamlswarm.scenario import schema_errors
from yamlswarm.scenario.loader import load_file
from yamlswarm.scenario.schema import is_valid, schema
from yamlswarm.scenario.validate import schema_problems

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "yamlswarm"
DOC = (ROOT / "docs" / "scenario-format.md").read_text(encoding="utf-8")

# One example step per key of every kind (a YAML flow mapping). A new kind needs its own.
EXAMPLES: dict[str, list[str]] = {
    "request": [
        *(f"{{{key}: /x}}" for key in BY_KEY if BY_KEY[key].name == "request" and key != "request"),
        "{request: {method: put, url: /x, extract: {got: {status: true}}}}",
    ],
    "think": ["{think: 0}", "{think: {between: [0s, 0s]}}"],
    "loop": ["{loop: {count: 2, as: i, steps: [{set: {n: '{{ i }}'}}]}}"],
    "if": ["{if: '{{ true }}', then: [{set: {n: 1}}], else: [{think: 0}]}"],
    "group": ["{group: {name: g, steps: [{set: {n: 1}}]}}"],
    "set": ["{set: {n: 1, m: '{{ n }}'}}"],
    "call": ["{call: fn}"],
    "log": ["{log: 'iteration {{ iteration }}'}"],
    "header": ["{set_header: {X-Token: '{{ iteration }}'}}", "{unset_header: X-Token}"],
    "choose": ["{choose: [{weight: 2, steps: [{set: {n: 1}}]}, {steps: [{think: 0}]}]}"],
    "use": ["{use: block}"],
    "stop": ["{stop: user, reason: done}"],
    "parallel": ["{parallel: {name: assets, steps: [{get: /a}, {get: /b}]}}"],
    "websocket": [
        "{websocket: {url: /ws, steps: [{send: hi}, {receive: {}}, {log: x}, {close: {}}]}}"
    ],
    "metric": ["{metric: {name: hits}}", "{metric: {name: hits, add: '{{ iteration }}'}}"],
}
KEYED = [kind for kind in KINDS if kind.keys]  # `probability:` wraps any step, it has no key
NOT_RUN_HERE = {"request", "parallel", "stop", "websocket"}  # need a server, or stop the user
CASES = [(name, text) for name, texts in EXAMPLES.items() for text in texts]
HOOKS = "def fn(user):\n    user.vars['called'] = True\n"


class RecordingUser:
    """A virtual user with exactly the attributes a step executor may use at run time."""

    __slots__ = (
        "busy",
        "id",
        "in_on_stop",
        "name",
        "rng",
        "session_headers",
        "slept",
        "stop_on_failure",
        "vars",
    )

    def __init__(self) -> None:
        self.vars: dict[str, Any] = {"iteration": 3}
        self.rng = random.Random(1)
        self.id = 1
        self.name = "u"
        self.stop_on_failure = False
        self.in_on_stop = False
        self.busy = False
        self.slept: list[float] = []
        self.session_headers: dict[str, Any] = {}

    @property
    def stopping(self) -> bool:
        return False

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def take_intended_start(self) -> float | None:
        return None


def _scenario(tmp_path: Path, step: str) -> Path:
    (tmp_path / "hooks.py").write_text(HOOKS, encoding="utf-8")
    file = tmp_path / "kinds.yaml"
    file.write_text(
        f"version: 1\nhooks: hooks.py\nblocks: {{block: [{{set: {{b: 1}}}}]}}\n"
        "metrics: {hits: counter}\n"
        f"users:\n  - flows:\n      - steps:\n          - {step}\n",
        encoding="utf-8",
    )
    return file


def _docs_section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.index("\n## ", start + 1)
    return DOC[start:end]


# ---------------------------------------------------------------- the registry


def test_keys_select_one_kind_each_in_registry_order() -> None:
    assert len(STEP_KEYS) == len(set(STEP_KEYS))
    assert list(BY_KEY) == list(STEP_KEYS)
    assert len({kind.name for kind in KINDS}) == len(KINDS)
    assert len({kind.plan_type for kind in KINDS}) == len(KINDS)


def test_every_key_of_every_kind_has_an_example() -> None:
    assert list(EXAMPLES) == [kind.name for kind in KEYED]
    used = {next(iter(yaml.safe_load(text))) for _, text in CASES}
    assert used == set(STEP_KEYS)


@pytest.mark.parametrize("name,text", CASES)
def test_schema_compiler_and_runtime_handle_each_example(tmp_path, name, text) -> None:
    doc = load_file(_scenario(tmp_path, text))
    assert schema_problems(doc) == []
    assert Draft202012Validator(schema()).is_valid(doc.data)
    (step,) = compile_document(doc, env={}).users[0].flows[0].steps
    key = next(iter(yaml.safe_load(text)))
    assert BY_KEY[key].name == name and type(step) is BY_KEY[key].plan_type
    assert step.source.line == 8
    lines: list[str] = []
    hooks = HookRunner(load_hooks([str(tmp_path / "hooks.py")]))
    env = BuildEnv(stats=Stats(), base=None, hooks=hooks, log=lines.append)
    (run,) = build_steps((step,), env)
    if name not in NOT_RUN_HERE:  # test_requests_cli, test_idioms*, test_websocket run those
        user = RecordingUser()
        assert run(user) is True
        assert user.vars.get("called") is (True if name == "call" else None)
        assert (lines == ["[u #1] iteration 3"]) is (name == "log")


def test_the_schema_dispatches_every_key_to_its_kind() -> None:
    defs = schema()["$defs"]
    step = defs["step"]
    assert list(step["properties"]) == list(STEP_KEYS)
    assert [branch["required"] for branch in step["oneOf"]] == [[key] for key in STEP_KEYS]
    targets = {b["if"]["required"][0]: b["then"]["$ref"] for b in step["allOf"]}
    assert targets == {key: f"#/$defs/{BY_KEY[key].step_def(key)}" for key in STEP_KEYS}
    for kind in KINDS:
        for name, sub in kind.schema.items():
            assert defs[name] == sub, name
        for key in kind.keys:
            assert key in defs[kind.step_def(key)]["properties"], key


def test_a_step_without_a_kind_names_every_key(tmp_path) -> None:
    doc = load_file(_scenario(tmp_path, "{name: nothing}"))
    with pytest.raises(ScenarioError) as caught:
        compile_document(doc, env={})
    messages = [problem.message for problem in caught.value.problems]
    assert messages == [f"a step needs one of {', '.join(STEP_KEYS)}"]
    assert not is_valid(doc.data)


def test_the_runtime_builds_every_kind() -> None:
    builders = dict(BUILDERS)
    assert builders == {kind.plan_type: kind.build for kind in KINDS}


def test_schema_errors_know_every_key_and_nested_list() -> None:
    keys, lists = schema_errors._STEP_KINDS, schema_errors._STEP_LISTS
    assert keys == frozenset(STEP_KEYS)
    assert lists == {"steps", "on_start", "on_stop"} | {p[-1] for k in KINDS for p in k.nested}


def test_nested_kinds_agree_between_yaml_and_plan(tmp_path) -> None:
    # `use:` and `probability:` hold steps compiled from elsewhere (blocks:, the step itself)
    own = [k for k in KINDS if k.name not in ("use", "probability")]
    assert [bool(k.nested) for k in own] == [bool(k.children) for k in own]
    text = "{loop: {count: 1, steps: [{if: '{{ true }}', then: [{group: {name: g, steps: [{log: x}]}}]}]}}"
    steps = compile_document(load_file(_scenario(tmp_path, text)), env={}).users[0].flows[0].steps
    assert [type(s).__name__ for s in walk(steps)] == ["LoopStep", "IfStep", "GroupStep", "LogStep"]


def test_stats_counts_every_step_row_apart_from_requests() -> None:
    recorded = {kind.stats_method for kind in KINDS if kind.stats_method}
    assert recorded | {"FLOW"} <= STEP_METHODS


def test_the_docs_have_a_section_per_step_key() -> None:
    section = _docs_section("Steps")
    intro = section.split("\n### ", 1)[0]
    assert re.findall(r"`([a-z_]+)`", intro) == list(STEP_KEYS)
    headings = [line for line in section.splitlines() if line.startswith("### ")]
    in_headings = [word for line in headings for word in re.findall(r"`([a-z_]+)`", line)]
    assert in_headings == list(STEP_KEYS)


def test_the_docs_examples_of_steps_are_valid_steps() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _docs_section("Steps"), re.DOTALL)
    steps = [step for block in blocks for step in yaml.safe_load(block)]
    kinds = {BY_KEY[key].name for step in steps for key in step if key in BY_KEY}
    assert kinds == {kind.name for kind in KEYED}
    base = {
        "version": 1,
        "blocks": {"login": [{"get": "/"}]},
        "users": [{"flows": [{"steps": steps}]}],
    }
    assert Draft202012Validator(schema()).is_valid(base)


# ---------------------------------------------------------------- extractors


def test_the_schema_offers_every_extractor() -> None:
    extractor = schema()["$defs"]["extractor"]
    names = [e.name for e in EXTRACTORS]
    assert [branch["required"] for branch in extractor["oneOf"]] == [[n] for n in names]
    assert set(names) <= set(extractor["properties"])


def test_compiler_and_runtime_handle_every_extractor(tmp_path) -> None:
    specs = {
        "jmespath": "{jmespath: a}",
        "regex": "{regex: 'x(y)', group: 1}",
        "header": "{header: X-Id}",
        "cookie": "{cookie: sid}",
        "status": "{status: true}",
    }
    assert list(specs) == [e.name for e in EXTRACTORS]
    extract = ", ".join(f"v_{name}: {spec}" for name, spec in specs.items())
    doc = load_file(_scenario(tmp_path, f"{{get: /x, extract: {{{extract}}}}}"))
    assert schema_problems(doc) == []
    (step,) = compile_document(doc, env={}).users[0].flows[0].steps
    assert [e.kind for e in step.extract] == list(specs)
    assert build_extractor(step.extract) is not None


def test_the_docs_list_every_extractor() -> None:
    section = _docs_section("`extract`")
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `(\w+)", row)[1] for row in rows] == [e.name for e in EXTRACTORS]


# ---------------------------------------------------------------- layering


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["yamlswarm.kinds", "yamlswarm.extractors"])
def test_the_registries_load_no_gevent_yaml_jsonschema_or_click(module) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not {"gevent", "yaml", "jsonschema", "click"} & loaded
    assert not {m for m in loaded if m.startswith(("yamlswarm.compiler", "yamlswarm.scenario"))}


def _imports(file: Path) -> list[str]:
    """Every module a file imports, TYPE_CHECKING and function-level imports included."""
    found: list[str] = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


@pytest.mark.parametrize(
    "file", [*sorted((PACKAGE / "kinds").glob("*.py")), PACKAGE / "extractors.py"], ids=str
)
def test_kind_modules_import_no_dispatcher_and_no_front_end(file: Path) -> None:
    banned = ("gevent", "yaml", "jsonschema", "click", "yamlswarm.compiler", "yamlswarm.scenario")
    banned += ("yamlswarm.runtime.steps", "yamlswarm.runtime.user", "yamlswarm.runtime.runner")
    bad = [m for m in _imports(file) if any(m == b or m.startswith(f"{b}.") for b in banned)]
    assert bad == []


def _module_graph() -> dict[str, set[str]]:
    names = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    graph: dict[str, set[str]] = {}
    for name, file in names.items():
        targets = set()
        for imported in _imports(file):
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


# Type-only imports (under TYPE_CHECKING) of the user and runner objects in modules owned by
# other work in progress; each closes a cycle. Delete an entry once its import is gone.
KNOWN_TYPE_ONLY_CYCLES = {
    ("yamlswarm.runtime.hook_calls", "yamlswarm.runtime.user"),
    ("yamlswarm.runtime.request", "yamlswarm.runtime.user"),
    ("yamlswarm.runtime.user", "yamlswarm.runtime.runner"),
    ("yamlswarm.runtime.workload", "yamlswarm.runtime.runner"),
    ("yamlswarm.distributed.reporting", "yamlswarm.distributed.master"),
}


def test_no_import_cycles_type_checking_imports_included() -> None:
    graph = _module_graph()
    for source, target in KNOWN_TYPE_ONLY_CYCLES:
        graph[source].discard(target)
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
