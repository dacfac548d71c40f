"""Reports of a run result: the final table, JSON/CSV/JUnit files and the live progress line."""

from __future__ import annotations

from yamlswarm.report.files import write_csv, write_json, write_junit
from yamlswarm.report.live import LiveProgress
from yamlswarm.report.table import render

__all__ = ["LiveProgress", "render", "write_csv", "write_json", "write_junit"]
