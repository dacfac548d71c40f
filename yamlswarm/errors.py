"""The one exception tree of yamlswarm; each user-facing error carries its exit code.

    YamlswarmError                exit 1 (never raised bare)
    ├── UsageError                exit 2   bad command line, missing file
    ├── ScenarioError             exit 2   invalid scenario(s); carries every problem found
    ├── StartError                exit 3   the run could not start or died
    │   ├── HookImportError       exit 3   a hook module failed to import (shows its traceback)
    │   ├── InternalError         exit 3   a bug of yamlswarm ended the run (shows its traceback)
    │   └── ClusterError          exit 3   master lost, too few workers, refused handshake
    └── Interrupted               exit 130 Ctrl-C / SIGTERM

The CLI turns these into output and an exit code in one place (`cli.main`).
Inside a running load test a failed request is data, never one of these.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import ClassVar


class YamlswarmError(Exception):
    """Root of every error yamlswarm reports to a user."""

    exit_code: ClassVar[int] = 1

    def render(self) -> str:
        """The text shown to the user (no traceback)."""
        return f"error: {self}"


class UsageError(YamlswarmError):
    """A bad command line value or a missing file."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One located mistake in a scenario file.

    `path` is the JSON path inside the document (keys and list indexes);
    `line`/`column` are 1-based and 0 when unknown.
    """

    file: str
    path: tuple[str | int, ...]
    message: str
    line: int = 0
    column: int = 0
    source_line: str = ""

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        path = self.dotted_path
        head = f"{where}: {path}: {self.message}" if path else f"{where}: {self.message}"
        if not self.source_line:
            return head
        caret = " " * max(self.column - 1, 0) + "^"
        return f"{head}\n    {self.source_line}\n    {caret}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.dotted_path,
            "message": self.message,
        }


def format_path(path: tuple[str | int, ...]) -> str:
    """`('users', 0, 'wait')` -> `users[0].wait`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


@dataclass
class ScenarioError(YamlswarmError):
    """One or more scenario files are invalid; `problems` holds every mistake."""

    problems: list[Problem] = field(default_factory=list)
    exit_code: ClassVar[int] = 2

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.problems)} problem(s)")

    def render(self) -> str:
        lines = [p.render() for p in sorted(self.problems, key=Problem.sort_key)]
        files = len({p.file for p in self.problems})
        n = len(self.problems)
        lines.append(f"{n} error{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}")
        return "\n".join(lines)


class StartError(YamlswarmError):
    """The run could not start, or died (not a failing target: that is data)."""

    exit_code = 3


class HookImportError(StartError):
    """A hook module failed to import; `details` holds its traceback."""

    def __init__(self, module: str, details: str) -> None:
        super().__init__(f"hook module {module!r} failed to import")
        self.details = details

    def render(self) -> str:
        return f"{self.details.rstrip()}\nerror: {self}"


class InternalError(StartError):
    """A bug of yamlswarm ended the run (results so far written); shows the traceback."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"internal error: {type(exc).__name__}: {exc}")
        self.details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def render(self) -> str:
        return (
            f"{self.details.rstrip()}\nerror: {self}\n"
            "This is a bug in yamlswarm, not in your scenario or your target; the results so far "
            "were printed and written. Please report it, with the traceback above and the "
            "command you ran."
        )


class ClusterError(StartError):
    """Distributed mode failed: master lost, too few workers, refused handshake."""


class Interrupted(YamlswarmError):
    """Ctrl-C or SIGTERM; results so far are still printed and written."""

    exit_code = 130
