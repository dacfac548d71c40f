"""Loading of hook modules (plain Python files or dotted modules); never calls the hooks.

A spec is resolved once (`resolve_spec`) and imported at most once per process
(`load_hooks` caches every module, and every import failure, by spec), so a
module's top-level code runs once even when `validate` and `run` both load it.
An import failure becomes `HookImportError` whose details show the user's own
frames only, not yamlswarm's or importlib's.

A hook file may import the Python files beside it (`import signing`; the
distributed bundle ships them). That works without touching `sys.path`: a finder
on `sys.meta_path` resolves top-level imports from the hook directories, but only
for imports made by code that lives in one of those directories (the hook file
and its siblings), so nothing else in the process sees or is shadowed by them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from yamlswarm.errors import HookImportError

__all__ = [
    "LIFECYCLE_HOOKS",
    "HookModules",
    "failure_summary",
    "is_path_spec",
    "load_hooks",
    "resolve_spec",
]

LIFECYCLE_HOOKS = (
    "on_test_start",
    "on_test_stop",
    "on_user_start",
    "on_user_stop",
    "before_request",
    "after_response",
)
_THIS_FILE = str(Path(__file__).resolve())
_IMPORTLIB_DIR = str(Path(importlib.__file__).resolve().parent) + os.sep


@dataclass(frozen=True)
class _Loaded:
    module: ModuleType
    template_functions: dict[str, Callable[..., Any]]


_CACHE: dict[str, _Loaded | HookImportError] = {}


def is_path_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_spec(spec: str, base_dir: Path) -> str:
    """A `.py` or slashed spec -> absolute file path (relative to base_dir); else a dotted name."""
    if is_path_spec(spec):
        return str((Path(base_dir) / spec).resolve())
    return spec


class HookModules:
    """The loaded hook modules of one scenario, in the order they were listed."""

    def __init__(self, specs: Sequence[str], loaded: Sequence[_Loaded]) -> None:
        self.specs = tuple(specs)
        self.modules = tuple(item.module for item in loaded)
        self.template_functions: dict[str, Callable[..., Any]] = {}
        for item in loaded:
            self.template_functions.update(item.template_functions)
        self.on_test_start = self._all("on_test_start")
        self.on_test_stop = self._all("on_test_stop")
        self.on_user_start = self._all("on_user_start")
        self.on_user_stop = self._all("on_user_stop")
        self.before_request = self._all("before_request")
        self.after_response = self._all("after_response")

    def _all(self, name: str) -> list[Callable[..., Any]]:
        found = (getattr(module, name, None) for module in self.modules)
        return [fn for fn in found if callable(fn)]

    def function(self, name: str) -> Callable[..., Any] | None:
        """The first module's public callable called `name`, or None."""
        if name.startswith("_"):
            return None
        for module in self.modules:
            fn = getattr(module, name, None)
            if callable(fn):
                return fn
        return None

    def names(self) -> set[str]:
        """Every public callable name the modules define (for did-you-mean suggestions)."""
        return {
            name
            for module in self.modules
            for name, value in vars(module).items()
            if not name.startswith("_") and callable(value)
        }


def load_hooks(specs: Sequence[str]) -> HookModules:
    """Import every resolved spec (cached per process); raises HookImportError on failure."""
    return HookModules(specs, [_load_one(spec) for spec in specs])


def _load_one(spec: str) -> _Loaded:
    cached = _CACHE.get(spec)
    if cached is None:
        try:
            cached = _import(spec)
        except HookImportError as exc:
            cached = exc
        _CACHE[spec] = cached
    if isinstance(cached, HookImportError):
        raise cached
    return cached


def _import(spec: str) -> _Loaded:
    try:
        module = _import_file(spec) if is_path_spec(spec) else importlib.import_module(spec)
        functions = _template_functions(module)
    except HookImportError:
        raise
    except (Exception, SystemExit) as exc:  # sys.exit() at import: a failure, not an exit
        raise _import_error(spec, exc) from exc
    return _Loaded(module, functions)


def _import_file(path: str) -> ModuleType:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    _SIBLINGS.add(str(file.parent))  # hook modules may import their siblings
    name = f"yamlswarm_hook_{_identifier(file.stem)}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses, pickle and typing look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class _SiblingFinder(importlib.abc.MetaPathFinder):
    """Finds the modules beside hook files, for imports made from those directories only."""

    def __init__(self) -> None:
        self.directories: set[str] = set()

    def add(self, directory: str) -> None:
        self.directories.add(os.path.normpath(directory))
        if self not in sys.meta_path:
            # after the built-in and frozen importers, before the sys.path finder: a
            # sibling wins over an installed module for the hook, as a script's own
            # directory does
            finders = [type(f) for f in sys.meta_path]
            at = (
                finders.index(importlib.machinery.PathFinder)
                if importlib.machinery.PathFinder in finders
                else len(finders)
            )
            sys.meta_path.insert(at, self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname:  # a submodule: found through its parent
            return None
        directory = _importer_directory(sys._getframe(1))
        if directory not in self.directories:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [directory])


def _importer_directory(frame: FrameType | None) -> str | None:
    """The directory of the code running the import statement (past importlib's frames)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (
            filename.startswith("<frozen importlib")
            or filename.startswith(_IMPORTLIB_DIR)
            or filename == _THIS_FILE
        ):
            return os.path.normpath(os.path.dirname(filename))
        frame = frame.f_back
    return None


_SIBLINGS = _SiblingFinder()


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _template_functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    factory = getattr(module, "template_functions", None)
    if not callable(factory):
        return {}
    functions = factory()
    if not isinstance(functions, dict) or not all(
        isinstance(k, str) and callable(v) for k, v in functions.items()
    ):
        raise TypeError("template_functions() must return a dict of name -> function")
    return functions


def _import_error(spec: str, exc: BaseException) -> HookImportError:
    return HookImportError(spec, user_traceback(exc))


def failure_summary(error: HookImportError) -> str:
    """`ZeroDivisionError: division by zero` — the user's exception behind an import failure."""
    cause = error.__cause__
    if cause is None:
        return str(error)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


def user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` without yamlswarm's and importlib's frames."""
    report = traceback.TracebackException.from_exception(exc)
    for part in _chain(report):
        part.stack = traceback.StackSummary.from_list(
            [frame for frame in part.stack if _is_user_frame(frame.filename)]
        )
    return "".join(report.format())


def _chain(report: traceback.TracebackException) -> list[traceback.TracebackException]:
    seen: list[traceback.TracebackException] = []
    pending = [report]
    while pending:
        part = pending.pop()
        if any(part is s for s in seen):
            continue
        seen.append(part)
        pending.extend(p for p in (part.__cause__, part.__context__) if p is not None)
    return seen


def _is_user_frame(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return False
    return filename != _THIS_FILE and not filename.startswith(_IMPORTLIB_DIR)
