"""Typed run settings: what the CLI (or a master) hands to the pipeline and the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
    interactive: bool = False  # stdout is a terminal: live progress redrawn in place
    stop_timeout: float = 10.0
    json_path: Path | None = None
    csv_prefix: Path | None = None
    html_path: Path | None = None
    junit_path: Path | None = None
    processes: int | None = None

    @property
    def outputs(self) -> dict[str, Path]:
        named = {
            "json": self.json_path,
            "csv": self.csv_prefix,
            "html": self.html_path,
            "junit": self.junit_path,
        }
        return {kind: path for kind, path in named.items() if path is not None}
