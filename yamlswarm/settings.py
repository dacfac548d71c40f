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
    # --out KIND=TARGET (repeatable): live exports, as (kind, target) pairs in the order given
    exports: tuple[tuple[str, str], ...] = ()
    csv_full_history: bool = False  # --csv-full-history: a history row per stats row too
    # the command line as the result records it (credentials masked); () when not from a CLI
    command: tuple[str, ...] = ()
    # --web [HOST:PORT]: serve the live web UI there (None: no UI); --autostart: start without
    # waiting for Start in the page; --autoquit S: quit S seconds after the run (None: stay up
    # until Ctrl-C); web_token: what a UI beyond loopback requires (--token / YAMLSWARM_TOKEN)
    web: str | None = None
    autostart: bool = False
    autoquit: float | None = None
    web_token: str | None = None

    def __post_init__(self) -> None:
        for name in ("tags", "exclude_tags", "user_types", "command"):  # lists from a message
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))

    @property
    def selection(self) -> Selection:
        return Selection.of(self.tags, self.exclude_tags, self.user_types)
