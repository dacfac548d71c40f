"""Request signing shared by the shop hooks (imported as a sibling module)."""

from __future__ import annotations

import hashlib
import hmac


def signature(key: bytes, method: str, url: str, body: bytes | str | None) -> str:
    """Hex HMAC-SHA256 of METHOD, URL and body, joined by newlines."""
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode()
    message = method.upper().encode() + b"\n" + url.encode() + b"\n" + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()
