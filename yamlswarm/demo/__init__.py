"""The bundled demo: a small shop API and the example scenario that `yamlswarm demo` runs against it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["scenario_path"]


def scenario_path() -> Path:
    """Return the path of the bundled demo scenario (package data)."""
    return Path(__file__).with_name("demo.yaml")
