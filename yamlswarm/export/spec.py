"""`--out KIND=TARGET`: which live exports there are and what a valid target of each is."""

from __future__ import annotations

import difflib
from urllib.parse import urlsplit

__all__ = ["EXPORT_KINDS", "parse_out"]

# kind -> what its target is (for messages and --help)
EXPORT_KINDS: dict[str, str] = {
    "prometheus": "a remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write",
    "influxdb": "a write URL, e.g. http://127.0.0.1:8086/write?db=loadtests",
    "jsonl": "a file, e.g. results/run.jsonl",
    "webhook": "a URL that takes a POST, e.g. https://hooks.slack.com/services/...",
}


def _url(kind: str, target: str) -> None:
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{kind}: {target!r} is not an http:// or https:// URL")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"{kind}: {target!r} has an invalid port") from None


def parse_out(text: str) -> tuple[str, str]:
    """(kind, target) of one `--out`; ValueError with a message a user can act on."""
    kind, sep, target = text.partition("=")
    kind = kind.strip().lower()
    if not sep or not kind or not target.strip():
        raise ValueError(f"{text!r} is not KIND=TARGET (kinds: {', '.join(EXPORT_KINDS)})")
    if kind not in EXPORT_KINDS:
        close = difflib.get_close_matches(kind, EXPORT_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{kind!r} is not an export kind{hint}; known: {', '.join(EXPORT_KINDS)}")
    target = target.strip()
    if kind == "influxdb":
        from yamlswarm.export.influx import write_url

        write_url(target)
    elif kind != "jsonl":
        _url(kind, target)
    if kind == "prometheus":
        from yamlswarm.export.remote_write import need_snappy

        need_snappy()  # UsageError with the install line when the extra is missing
    return kind, target
