"""yamlswarm: load tests written as schema-validated YAML scenarios."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
