"""The runtime's modules import one another in one direction only: no cycle, not even one
closed by a `TYPE_CHECKING` or function-level import (leaf modules use Protocols instead)."""

from __future__ import annotations

import ast
from pathlib import Path

import yamlswarm.runtime

ROOT = Path(yamlswarm.runtime.__file__).parent
PACKAGE = "yamlswarm.runtime"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Runtime modules that `path` imports anywhere in its text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_type_checking_imports():
    graph = _graph()
    assert "yamlswarm.runtime.user" in graph["yamlswarm.runtime.steps"]  # under TYPE_CHECKING
    assert "yamlswarm.runtime.http.session" in graph["yamlswarm.runtime.runner"]


def test_no_import_cycle_in_the_runtime():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or ())
