"""`defaults.tls`, `defaults.proxy` and `defaults.limits`: the connection settings of a plan."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yamlswarm.compiler.context import Context, JsonPath
from yamlswarm.plan import HttpLimits, TlsSettings

_TLS_FILES = ("ca_bundle", "client_cert", "client_key")


def compile_tls(ctx: Context, block: dict[Any, Any]) -> TlsSettings:
    """`defaults.tls`; `verify` falls back to `defaults.verify_tls`. Files must exist."""
    path: JsonPath = ("defaults", "tls")
    tls = ctx.mapping(path, block.get("tls"))
    verify = tls.get("verify", block.get("verify_tls", True))
    files: dict[str, str | None] = {}
    for key in _TLS_FILES:
        files[key] = _existing_file(ctx, (*path, key), tls.get(key))
    if files["client_key"] and not files["client_cert"] and tls.get("client_cert") is None:
        ctx.error((*path, "client_key"), "'client_key' needs 'client_cert' (the certificate)")
    _check_pem(ctx, path, files)
    return TlsSettings(bool(verify), files["ca_bundle"], files["client_cert"], files["client_key"])


def _check_pem(ctx: Context, path: JsonPath, files: dict[str, str | None]) -> None:
    """Load the files as the runtime will, so a bad one is a located error, not failed requests."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if files["ca_bundle"]:
        try:
            context.load_verify_locations(cafile=files["ca_bundle"])
        except (ssl.SSLError, OSError) as exc:
            ctx.error((*path, "ca_bundle"), f"not a PEM file of CA certificates: {exc}")
    if files["client_cert"]:
        try:
            context.load_cert_chain(files["client_cert"], files["client_key"])
        except (ssl.SSLError, OSError) as exc:
            where = "client_key" if files["client_key"] else "client_cert"
            ctx.error((*path, where), f"cannot use the client certificate and key: {exc}")


def _existing_file(ctx: Context, path: JsonPath, raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        ctx.error(path, f"expected a file name, got {raw!r}")
        return None
    file = Path(ctx.doc.base_dir) / raw
    if not file.is_file():
        ctx.error(path, f"file not found: {str(file)!r}")
        return None
    return str(file.resolve())


def compile_proxy(ctx: Context, raw: Any) -> str | None:
    """`defaults.proxy`: an http:// proxy URL with a host and port."""
    if raw is None:
        return None
    path: JsonPath = ("defaults", "proxy")
    if not isinstance(raw, str):
        ctx.error(path, f"expected a proxy URL, got {raw!r}")
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        ctx.error(path, f"invalid proxy URL {raw!r}: {exc}")
        return None
    if parts.scheme != "http" or not parts.hostname:
        ctx.error(path, f"expected a proxy URL like http://host:3128, got {raw!r}")
        return None
    return raw


def compile_limits(ctx: Context, raw: Any) -> HttpLimits:
    path: JsonPath = ("defaults", "limits")
    block = ctx.mapping(path, raw)
    default = HttpLimits()
    return HttpLimits(
        max_header_bytes=ctx.integer(
            (*path, "max_header_bytes"),
            block.get("max_header_bytes"),
            default.max_header_bytes,
            minimum=1024,
        ),
        max_headers=ctx.integer(
            (*path, "max_headers"), block.get("max_headers"), default.max_headers, minimum=1
        ),
    )
