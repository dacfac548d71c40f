"""The output formats of a run (`--json`, `--csv`, `--html`, `--junit`): one registry entry each.

`OUTPUTS` is the one place that knows them. The CLI makes a Click option of
each entry, `RunSettings.outputs` maps a kind to its target, and
`write_outputs` writes them in registry order. A new format is a writer
(`write(result, target)`, in its own report module) plus one entry here.
Writers are named as `module:function` and imported only when their output
is written, so building the command line stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from yamlswarm.errors import UsageError

if TYPE_CHECKING:
    from yamlswarm.result import RunResult

__all__ = ["OUTPUTS", "OutputFormat", "requested", "write_output", "write_outputs"]

Target = Literal["file", "prefix"]


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One output format: how the command line names it and what writes it.

    `target` is "file" (the option names the file written) or "prefix" (the
    writer derives several file names from it and returns them). `writer`
    is "module:function"; the function takes the result and the target path.
    """

    kind: str  # key of RunSettings.outputs; "wrote KIND: ..." once written
    option: str  # the command-line option, e.g. "--json"
    metavar: str  # its value's name in --help
    help: str
    target: Target
    writer: str

    @property
    def placeholder(self) -> str:
        """How the docs name the option's value: `--json FILE`, `--csv PREFIX`."""
        return self.target.upper()

    def load_writer(self) -> Callable[[RunResult, Path], object]:
        module, _, name = self.writer.partition(":")
        function: Callable[[RunResult, Path], object] = getattr(
            importlib.import_module(module), name
        )
        return function

    def write(self, result: RunResult, target: Path) -> list[Path]:
        """Write the output; the paths written (UsageError when one cannot be written)."""
        written = self.load_writer()(result, target)
        if self.target == "prefix":
            assert isinstance(written, list), f"{self.writer} must return the paths it wrote"
            return written
        return [target]


def _registry(*formats: OutputFormat) -> dict[str, OutputFormat]:
    return {f.kind: f for f in formats}


OUTPUTS: Mapping[str, OutputFormat] = _registry(
    OutputFormat(
        "json",
        "--json",
        "FILE",
        "Write the result as JSON.",
        "file",
        "yamlswarm.report.files:write_json",
    ),
    OutputFormat(
        "csv",
        "--csv",
        "FILE",
        "Write Locust's CSV files: PREFIX_stats.csv, PREFIX_stats_history.csv, "
        "PREFIX_failures.csv, PREFIX_exceptions.csv; and PREFIX_transactions.csv.",
        "prefix",
        "yamlswarm.report.files:write_csv",
    ),
    OutputFormat(
        "html",
        "--html",
        "FILE",
        "Write a self-contained HTML report.",
        "file",
        "yamlswarm.report.html:write_html",
    ),
    OutputFormat(
        "junit",
        "--junit",
        "FILE",
        "Write a JUnit XML file (one test case per threshold and check).",
        "file",
        "yamlswarm.report.files:write_junit",
    ),
)


def requested(outputs: Mapping[str, Path]) -> Iterator[tuple[OutputFormat, Path]]:
    """The requested outputs in registry order; a kind the registry lacks is a programming error."""
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        raise ValueError(f"unknown output kind(s) {unknown}; known: {sorted(OUTPUTS)}")
    for kind, fmt in OUTPUTS.items():
        target = outputs.get(kind)
        if target is not None:
            yield fmt, target


def write_output(fmt: OutputFormat, result: RunResult, target: Path) -> str:
    """Write one output; the line that says so (`wrote csv: a, b, c`). Raises UsageError."""
    written = fmt.write(result, target)
    return f"wrote {fmt.kind}: {', '.join(str(path) for path in written)}"


def write_outputs(result: RunResult, outputs: Mapping[str, Path], err: TextIO) -> bool:
    """Write every requested output; one that fails does not stop the others. False if any failed.

    Each file is written atomically (`files.open_for_write`): one that could not
    be written is said, and the previous file of that name, if any, is left whole.
    """
    ok = True
    for fmt, target in requested(outputs):
        try:
            line = write_output(fmt, result, target)
        except UsageError as exc:
            line, ok = exc.render(), False
        except OSError as exc:
            line, ok = f"error: cannot write {target}: {exc.strerror or exc}", False
        except Exception as exc:  # a writer's bug must not cost the other outputs
            line, ok = f"error: cannot write {fmt.option} {target}: internal error: {exc!r}", False
        print(line, file=err, flush=True)
    return ok
