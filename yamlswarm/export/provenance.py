"""Where a run came from, as its result records it: the host and the command line, masked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from yamlswarm.report.trace import MASK, mask_url

__all__ = ["masked_command", "masked_host"]

_SECRET_OPTIONS = frozenset({"--token"})
_SECRET_KEY = re.compile(r"token|secret|passw|pwd|key|auth|credential|session|cookie", re.I)


def masked_host(host: str | None) -> str | None:
    """The target URL with a user info password and secret-looking query values masked."""
    return mask_url(host) if host else host


def _mask_value(arg: str) -> str:
    """An argument as recorded: URLs masked, `KEY=VALUE` masked when KEY names a secret."""
    key, sep, value = arg.partition("=")
    if sep and "://" not in key and _SECRET_KEY.search(key):
        return f"{key}={MASK}"
    if sep and key == "webhook":  # a webhook URL's path is its secret (Slack's are)
        parts = urlsplit(value)
        return f"{key}={parts.scheme}://{parts.netloc.rpartition('@')[2]}/{MASK}"
    if sep and "://" in value and "://" not in key:
        return f"{key}={_mask_value(value)}"
    return mask_url(arg) if "://" in arg else arg


def masked_command(argv: Sequence[str]) -> list[str]:
    """The command line with every credential masked (`--token`, URL passwords, -e secrets)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        option, sep, _ = arg.partition("=")
        if option in _SECRET_OPTIONS:
            out.append(f"{option}={MASK}" if sep else option)
            hide_next = not sep
            continue
        out.append(arg if arg.startswith("-") and not sep else _mask_value(arg))
    return out
