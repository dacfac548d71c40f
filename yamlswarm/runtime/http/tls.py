"""TLS client contexts: one per set of `defaults.tls` settings, built once and shared."""

from __future__ import annotations

import ssl
from functools import lru_cache

from yamlswarm.plan import TlsSettings


@lru_cache(maxsize=32)
def client_context(settings: TlsSettings, verify: bool) -> ssl.SSLContext:
    """A client context: the CA bundle (or the system's CAs) when verifying, the client
    certificate when one is set; HTTP/1.1 offered by ALPN. Raises ssl.SSLError or OSError
    for files that cannot be used (the compiler checks them first)."""
    if verify:
        context = ssl.create_default_context(cafile=settings.ca_bundle)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    context.set_alpn_protocols(["http/1.1"])
    return context
