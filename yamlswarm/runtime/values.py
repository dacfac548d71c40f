"""Small text helpers shared by step executors: values as text, exceptions as error names."""

from __future__ import annotations

import json
from typing import Any


def as_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def error_text(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
