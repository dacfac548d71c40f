"""Typed run settings: what the CLI (or a master) hands to the pipeline and the runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yamlswarm.selection import Selection


@dataclass(frozen=True)
class RunSettings:
    """Command-line overrides and outputs of one run; None means "as the scenario says"."""

    host: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None
    iterations: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    trace: int | None = None  # --trace N: one user, N iterations, every exchange printed
    quiet: bool = False
    interactive: bool = False  # stdout is a terminal, TERM not dumb: live progress redrawn in place
    colour: bool = False  # and NO_COLOR is not set: --trace paints statuses
    stop_timeout: float = 10.0
    max_rows: int = 1_000  # --max-rows: distinct stats rows before a step's overflow row
    # --exit-code-on-error N: the exit code when a request failed and every threshold passed
    exit_code_on_error: int | None = None
    # -T/--tags, -E/--exclude-tags, --user-type: which flows and user types run (empty: all)
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    user_types: tuple[str, ...] = ()
    # output kind -> target, e.g. {"json": Path("result.json"), "csv": Path("out/run")};
    # the kinds are those of `yamlswarm.report.outputs.OUTPUTS`
    outputs: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("tags", "exclude_tags", "user_types"):  # lists from a master's message
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))

    @property
    def selection(self) -> Selection:
        return Selection.of(self.tags, self.exclude_tags, self.user_types)
