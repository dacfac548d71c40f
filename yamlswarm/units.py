"""Parsing of durations (`1m30s`, `500ms`, `5`) and rates (`10/s`, `600/m`).

Both parsers return finite, non-negative floats within a sane range: NaN, infinity,
negative values and values past `MAX_DURATION` / `MAX_RATE` raise ValueError with a
readable message, so the CLI (`-t nan`) and the YAML compiler (`duration: .nan`)
reject them the same way.
"""

from __future__ import annotations

import math
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

# Past these a value is a typo or an attack, and it would overflow timers and sockets
# (a socket timeout must fit a time_t; a run of years is no load test).
MAX_DURATION = 366 * 24 * 3600.0  # seconds
MAX_RATE = 10_000_000.0  # events per second

DURATION_HELP = "a duration such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds"
RATE_HELP = "a rate such as 10/s, 600/m, 1/h or a number per second"


def parse_duration(value: object) -> float:
    """Seconds from a duration; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    if isinstance(value, (int, float)):
        return _checked(value, value, DURATION_HELP, MAX_DURATION, "366 days")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    text = value.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _checked(value, seconds, DURATION_HELP, MAX_DURATION, "366 days")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    return _checked(value, total, DURATION_HELP, MAX_DURATION, "366 days")


def parse_rate(value: object) -> float:
    """Events per second from a rate; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {RATE_HELP}")
    if isinstance(value, (int, float)):
        return _checked(value, value, RATE_HELP, MAX_RATE, "10,000,000/s")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {RATE_HELP}")
    match = _RATE.match(value.lower())
    if match is None:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not {RATE_HELP}") from None
        return _checked(value, number, RATE_HELP, MAX_RATE, "10,000,000/s")
    per_second = float(match.group(1)) / _RATE_SECONDS[match.group(2)]
    return _checked(value, per_second, RATE_HELP, MAX_RATE, "10,000,000/s")


def _checked(written: object, number: float, expected: str, maximum: float, limit: str) -> float:
    """`number` as a float if finite and within [0, maximum]; else a ValueError naming why."""
    shown = _shown(written)
    if isinstance(number, int) and not -maximum <= number <= maximum:
        number = math.inf if number > 0 else -1.0  # an int too large for a float
    elif math.isnan(number) or math.isinf(number):
        raise ValueError(f"{shown} is not a finite number; expected {expected}")
    if number < 0:
        raise ValueError(f"{shown} is negative; expected {expected}")
    if number > maximum:  # also an int too large for a float
        raise ValueError(f"{shown} is too large (at most {limit}); expected {expected}")
    return float(number) + 0.0  # -0.0 -> 0.0


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    """`90.0` -> `1m30s`; used in messages and the live progress."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)
