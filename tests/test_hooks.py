from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from yamlswarm.errors import HookImportError
from yamlswarm.hookmodules import failure_summary, load_hooks, resolve_spec


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_resolve_spec_paths_and_dotted_names(tmp_path):
    assert resolve_spec("hooks.py", tmp_path) == str(tmp_path / "hooks.py")
    assert resolve_spec("lib/shop", tmp_path) == str(tmp_path / "lib" / "shop")
    assert resolve_spec("../x.py", tmp_path / "a") == str(tmp_path / "x.py")
    assert resolve_spec("mycompany.hooks", tmp_path) == "mycompany.hooks"


def test_functions_lifecycle_hooks_and_template_functions_in_module_order(tmp_path):
    first = _write(
        tmp_path / "a.py",
        """
        calls = []
        def on_user_start(user): calls.append("a")
        def before_request(request, user): pass
        def shared(user): return "a"
        def _private(user): pass
        def template_functions():
            return {"upper": str.upper, "twice": lambda x: x * 2}
    """,
    )
    second = _write(
        tmp_path / "b.py",
        """
        def on_user_start(user): pass
        def shared(user): return "b"
        def only_b(user): return "b"
        def template_functions():
            return {"twice": lambda x: x * 3}
    """,
    )
    hooks = load_hooks([str(first), str(second)])
    assert hooks.function("shared")(None) == "a"  # the first module defining it wins
    assert hooks.function("only_b")(None) == "b"
    assert hooks.function("missing") is None
    assert hooks.function("_private") is None
    assert {"shared", "only_b", "on_user_start"} <= hooks.names()
    assert "_private" not in hooks.names()
    assert [f.__module__ for f in hooks.on_user_start] == [m.__name__ for m in hooks.modules]
    assert len(hooks.before_request) == 1 and hooks.after_response == []
    assert sorted(hooks.template_functions) == ["twice", "upper"]
    assert hooks.template_functions["twice"](2) == 6  # later modules override


def test_module_runs_once_per_process_and_can_import_siblings(tmp_path):
    log = tmp_path / "imports.log"
    _write(tmp_path / "helpers_sibling_x1.py", "VALUE = 42\n")
    hook = _write(
        tmp_path / "hook.py",
        f"""
        import helpers_sibling_x1
        with open({str(log)!r}, "a") as f:
            f.write("imported\\n")
        def answer(user):
            return helpers_sibling_x1.VALUE
    """,
    )
    one = load_hooks([str(hook)])
    two = load_hooks([str(hook)])
    assert log.read_text() == "imported\n"
    assert one.modules[0] is two.modules[0]
    assert two.function("answer")(None) == 42


def test_dotted_module_name(tmp_path, monkeypatch):
    _write(tmp_path / "pkg_h2_dotted" / "__init__.py", "")
    _write(tmp_path / "pkg_h2_dotted" / "shop.py", "def record(user):\n    return 'ok'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hooks = load_hooks(["pkg_h2_dotted.shop"])
    assert hooks.function("record")(None) == "ok"


def test_import_failure_shows_only_user_frames_and_is_cached(tmp_path):
    log = tmp_path / "runs.log"
    _write(tmp_path / "util_h2_fail.py", "def explode():\n    return 1 / 0\n")
    broken = _write(
        tmp_path / "broken.py",
        f"""
        open({str(log)!r}, "a").write("x")
        import util_h2_fail
        util_h2_fail.explode()
    """,
    )
    with pytest.raises(HookImportError) as info:
        load_hooks([str(broken)])
    details = info.value.details
    assert details.startswith("Traceback (most recent call last):")
    assert str(broken) in details and "util_h2_fail.py" in details
    assert "return 1 / 0" in details
    assert details.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "yamlswarm" not in details.replace(str(tmp_path), "")
    assert "importlib" not in details
    assert failure_summary(info.value) == "ZeroDivisionError: division by zero"
    with pytest.raises(HookImportError):
        load_hooks([str(broken)])
    assert log.read_text() == "x"  # the failing module did not run twice


def test_syntax_error_and_missing_file(tmp_path):
    bad = _write(tmp_path / "syntax.py", "def f(:\n    pass\n")
    with pytest.raises(HookImportError) as info:
        load_hooks([str(bad)])
    assert "SyntaxError" in failure_summary(info.value)
    assert "def f(:" in info.value.details
    with pytest.raises(HookImportError) as missing:
        load_hooks([str(tmp_path / "nope.py")])
    assert failure_summary(missing.value).startswith("FileNotFoundError: no such file")
    with pytest.raises(HookImportError) as dotted:
        load_hooks(["no_such_module_h2_xyz"])
    assert "ModuleNotFoundError" in failure_summary(dotted.value)


def test_template_functions_must_return_a_dict_of_functions(tmp_path):
    hook = _write(tmp_path / "tf.py", "def template_functions():\n    return ['x']\n")
    with pytest.raises(HookImportError) as info:
        load_hooks([str(hook)])
    assert failure_summary(info.value) == (
        "TypeError: template_functions() must return a dict of name -> function"
    )


def test_hook_siblings_are_importable_without_changing_sys_path(tmp_path):
    _write(tmp_path / "sibling_h8_top.py", "VALUE = 'top'\n")
    _write(tmp_path / "sibling_h8_lazy.py", "VALUE = 'lazy'\n")
    _write(
        tmp_path / "sibling_h8_chain.py", "import sibling_h8_top\nVALUE = sibling_h8_top.VALUE\n"
    )
    _write(tmp_path / "sibling_h8_unused.py", "VALUE = 'never imported by the hook'\n")
    hook = _write(
        tmp_path / "hook_h8.py",
        """
        import sibling_h8_chain
        def lazy(user):
            import sibling_h8_lazy  # imported when the hook runs, not when it loads
            return sibling_h8_lazy.VALUE + sibling_h8_chain.VALUE
    """,
    )
    path_before, finders_before = list(sys.path), len(sys.meta_path)
    hooks = load_hooks([str(hook)])
    assert sys.path == path_before
    assert hooks.function("lazy")(None) == "lazytop"
    # the hook directory is not on the import path of the rest of the process
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("sibling_h8_unused")
    assert len(sys.meta_path) <= finders_before + 1
