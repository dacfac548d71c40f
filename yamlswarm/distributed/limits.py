"""Limits of distributed mode: the largest bundle, the largest frame a socket takes in, timeouts.

Every socket of the master and of a worker sets ZeroMQ's `MAXMSGSIZE`, so a
frame above the limit is refused when its header is read — the connection is
dropped and nothing of that size is allocated. The default leaves a few MB
above the largest bundle for the rest of the Welcome message; the
environment variable `YAMLSWARM_MAX_MESSAGE_SIZE` (bytes, or with a K, M or G
suffix) changes it, on the master and on the workers alike.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from yamlswarm.errors import UsageError

MAX_BUNDLE_BYTES = 50 * 1024 * 1024
MESSAGE_SIZE_ENV = "YAMLSWARM_MAX_MESSAGE_SIZE"
DEFAULT_MAX_MESSAGE_BYTES = MAX_BUNDLE_BYTES + 4 * 1024 * 1024
MIN_MESSAGE_BYTES = 64 * 1024  # heartbeats and reports of a few rows must fit
MAX_MESSAGE_BYTES = 4 * 1024 * 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
WELCOME_OVERHEAD = 1024 * 1024  # what a Welcome holds beside the bundle (settings, names)
MAX_TIMEOUT_S = 7 * 86400.0

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_BUNDLE_BYTES",
    "MESSAGE_SIZE_ENV",
    "check_bundle_fits",
    "check_timeout",
    "describe_size",
    "max_message_bytes",
    "parse_size",
]


def parse_size(text: str) -> int:
    """`65536`, `64K`, `54MB`, `1GiB` -> bytes (powers of 1024); ValueError when malformed."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size in bytes (e.g. 64MB)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def max_message_bytes(value: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The frame size limit: `value`, else $YAMLSWARM_MAX_MESSAGE_SIZE, else the default."""
    source = "the largest message size"
    if value is None:
        text = (os.environ if environ is None else environ).get(MESSAGE_SIZE_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_MESSAGE_BYTES
        source = MESSAGE_SIZE_ENV
        try:
            value = parse_size(text)
        except ValueError as exc:
            raise UsageError(f"{MESSAGE_SIZE_ENV}: {exc}") from None
    if not MIN_MESSAGE_BYTES <= value <= MAX_MESSAGE_BYTES:
        raise UsageError(
            f"{source} must be between {MIN_MESSAGE_BYTES // 1024} KiB and "
            f"{MAX_MESSAGE_BYTES // 1024**3} GiB, not {value} bytes"
        )
    return value


def describe_size(n: int) -> str:
    """`56623104` -> `54.0 MiB`, `100000` -> `97.7 KiB` (the units of the size setting)."""
    return f"{n / 1024**2:.1f} MiB" if n >= 1024**2 else f"{n / 1024:.1f} KiB"


def check_bundle_fits(bundle_bytes: int, limit: int) -> None:
    """UsageError when a Welcome with this bundle would be over the workers' frame size limit."""
    if bundle_bytes + WELCOME_OVERHEAD > limit:
        raise UsageError(
            f"the scenario bundle ({describe_size(bundle_bytes)}) does not fit in the largest "
            f"message workers take in ({describe_size(limit)}); raise {MESSAGE_SIZE_ENV} "
            f"on the master and the workers"
        )


def check_timeout(seconds: float, option: str) -> None:
    """UsageError unless a timeout is a finite number of seconds above 0 (at most a week)."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_S):
        shown = f"{seconds:g}s" if math.isfinite(seconds) else f"{seconds}"
        raise UsageError(f"{option} must be a duration above 0s and at most 7 days, not {shown}")
