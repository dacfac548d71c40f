"""Reports of a run result: the final table, the output files and the live progress line.

Names are imported on first use, so `yamlswarm.report.outputs` (read by the
CLI to build its options) comes without tabulate or the writers.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["OUTPUTS", "LiveProgress", "render", "write_csv", "write_json", "write_junit"]

_HOMES = {
    "OUTPUTS": "yamlswarm.report.outputs",
    "LiveProgress": "yamlswarm.report.live",
    "render": "yamlswarm.report.table",
    "write_csv": "yamlswarm.report.files",
    "write_json": "yamlswarm.report.files",
    "write_junit": "yamlswarm.report.files",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
