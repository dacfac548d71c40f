"""One HTTP POST of an export (remote write, line protocol, webhook), with a timeout.

Any failure (refused, timed out, a status other than 2xx) raises `ExportError`
with a short reason; the caller decides whether to retry.
"""

from __future__ import annotations

import urllib.error
import urllib.request

__all__ = ["TIMEOUT_S", "ExportError", "post"]

TIMEOUT_S = 10.0
USER_AGENT = "yamlswarm-export"
# exports go where the URL says: no proxy from the environment in between
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ExportError(Exception):
    """A backend did not take what was sent."""


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_S) -> int:
    """POST `body`; the status (2xx), or ExportError."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("User-Agent", USER_AGENT)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise ExportError(f"HTTP {exc.code} {exc.reason}: {detail}".rstrip(": ")) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ExportError(f"cannot reach {url}: {reason}") from None
