"""Parsing of durations (`1m30s`, `500ms`, `5`) and rates (`10/s`, `600/m`)."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_SECONDS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}

DURATION_HELP = "a duration such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds"
RATE_HELP = "a rate such as 10/s, 600/m, 1/h or a number per second"


def parse_duration(value: object) -> float:
    """Seconds from a duration; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; expected {DURATION_HELP}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    text = value.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError(f"{value!r} is negative; expected {DURATION_HELP}")
        return seconds
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    return total


def parse_rate(value: object) -> float:
    """Events per second from a rate; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {RATE_HELP}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; expected {RATE_HELP}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {RATE_HELP}")
    match = _RATE.match(value.lower())
    if match is None:
        try:
            return parse_rate(float(value))
        except ValueError:
            raise ValueError(f"{value!r} is not {RATE_HELP}") from None
    return float(match.group(1)) / _RATE_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """`90.0` -> `1m30s`; used in messages and the live progress."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)
