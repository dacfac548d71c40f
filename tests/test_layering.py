"""The pipeline is one-way: the runtime never imports YAML, jsonschema or Click (STYLE 1)."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_runtime_imports_no_front_end():
    loaded = _modules_after("import yamlswarm.runtime.runner, yamlswarm.runtime.steps")
    assert not {"yaml", "jsonschema", "click"} & loaded


def test_compiler_needs_no_gevent_or_network():
    loaded = _modules_after("import yamlswarm.compiler")
    assert "gevent" not in loaded
    assert "geventhttpclient" not in loaded


def test_validate_path_does_not_import_gevent():
    loaded = _modules_after("import yamlswarm.cli, yamlswarm.scenario.validate")
    assert "gevent" not in loaded


def test_package_import_does_not_monkey_patch():
    code = (
        "import yamlswarm, yamlswarm.runtime.runner, socket, gevent.socket\n"
        "print(socket.socket is gevent.socket.socket)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
