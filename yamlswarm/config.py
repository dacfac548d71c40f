"""The config file: option defaults from `yamlswarm.toml` or `[tool.yamlswarm]` in pyproject.toml.

Only the current directory is looked at. `yamlswarm.toml` (top-level keys) wins
over `pyproject.toml` (its `[tool.yamlswarm]` table), as `ruff.toml` does over
pyproject. Keys are the long option names with `-` or `_` (`spawn-rate`,
`spawn_rate`, `json`); the CLI checks the values with the options' own types.
Precedence, highest first: command line, `YAMLSWARM_<OPTION>`, this file, the scenario.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yamlswarm.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ConfigFile", "find_config", "option_key", "resolve_keys"]

OWN_FILE = "yamlswarm.toml"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class ConfigFile:
    """The option table of one config file; `label` names it in messages."""

    path: Path
    label: str
    table: Mapping[str, Any] = field(default_factory=dict)


def find_config(directory: Path) -> ConfigFile | None:
    """The config of `directory`: its yamlswarm.toml, else its pyproject's [tool.yamlswarm]."""
    own = directory / OWN_FILE
    if own.is_file():
        return ConfigFile(own, OWN_FILE, _read(own, OWN_FILE))
    pyproject = directory / PYPROJECT
    if not pyproject.is_file():
        return None
    label = f"{PYPROJECT} [tool.yamlswarm]"
    tool = _read(pyproject, PYPROJECT).get("tool")
    table = tool.get("yamlswarm") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f'{label}: must be a table of options, e.g. host = "http://..."')
    return ConfigFile(pyproject, label, table)


def _read(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{label}: not valid TOML: {exc}") from None


def option_key(long_name: str) -> str:
    """`--spawn-rate` -> `spawn-rate`, the spelling a key is compared in."""
    return long_name.lstrip("-").replace("_", "-")


def resolve_keys(config: ConfigFile, known: Mapping[str, str]) -> dict[str, Any]:
    """The table keyed by parameter name; `known` maps `option_key` spellings to those names.

    Every unknown key is reported at once, each with a did-you-mean.
    """
    resolved: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in config.table.items():
        name = known.get(option_key(key))
        if name is None:
            close = difflib.get_close_matches(option_key(key), sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            unknown.append(f"{config.label}: {key!r} is not an option of run or master{hint}")
        else:
            resolved[name] = value
    if unknown:
        raise UsageError("\n".join(unknown))
    return resolved
