"""The import graph: no cycles around the CLI, the run, distributed mode and the reports.

Every import counts, also those inside functions and under `if TYPE_CHECKING:`:
a cycle that only type checking sees is still two modules that cannot be read
(or changed) one without the other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import REPO

PACKAGE = REPO / "yamlswarm"
ACYCLIC = ("yamlswarm.distributed", "yamlswarm.report", "yamlswarm.cli", "yamlswarm.run")
ACYCLIC_MODULES = ("yamlswarm.settings",)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The yamlswarm modules `name` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _in_scope(module: str) -> bool:
    return module in ACYCLIC_MODULES or any(
        module == top or module.startswith(top + ".") for top in ACYCLIC
    )


def test_no_import_cycle_around_cli_run_distributed_and_reports():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["yamlswarm.distributed.master"], "the graph finds imports"
    bad = [c for c in _cycles(graph) if any(_in_scope(m) for m in c)]
    assert not bad, f"import cycles: {bad}"


def test_reports_never_import_the_cli_or_click():
    for path in sorted((PACKAGE / "report").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for imported in names:
                assert imported.split(".")[0] != "click", path.name
                assert not imported.startswith("yamlswarm.cli"), path.name
    code = (
        "import pkgutil, importlib, sys, yamlswarm.report as r\n"
        "for m in pkgutil.iter_modules(r.__path__):\n"
        "    importlib.import_module('yamlswarm.report.' + m.name)\n"
        "print('click' in sys.modules, 'yamlswarm.cli' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
