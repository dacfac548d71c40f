"""Which proxy a request goes through, and how: absolute-form targets for http, CONNECT for https.

`defaults.proxy` when set, else the environment as `urllib.request.getproxies` reads it
(`HTTP_PROXY`, `HTTPS_PROXY`, lower case too); `NO_PROXY` (`urllib.request.proxy_bypass`)
exempts hosts from either. Only http:// proxies are supported; user:password in the proxy
URL becomes a `Proxy-Authorization: Basic` header.
"""

from __future__ import annotations

import base64
import urllib.request
from urllib.parse import unquote, urlsplit

from yamlswarm.plan import HttpLimits
from yamlswarm.runtime.http.framing import read_response
from yamlswarm.runtime.http.message import Origin
from yamlswarm.runtime.http.wire import Connection, Failure


class Proxy:
    """A proxy to connect to, with its Proxy-Authorization line (b"" when none)."""

    __slots__ = ("auth_line", "origin")

    def __init__(self, origin: Origin, auth_line: bytes) -> None:
        self.origin = origin
        self.auth_line = auth_line

    def __repr__(self) -> str:
        return f"<Proxy {self.origin!r}>"


def proxy_for(origin: Origin, configured: str | None) -> Proxy | None:
    """The proxy for requests to `origin` (None: connect directly). Raises Failure for a
    proxy URL this client cannot use."""
    url = configured or urllib.request.getproxies().get(origin.scheme)
    if not url or urllib.request.proxy_bypass(f"{origin.host}:{origin.port}"):
        return None
    if "://" not in url:
        url = f"http://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Failure("ProxyError: invalid proxy URL") from None
    if parts.scheme != "http" or not parts.hostname:
        raise Failure(f"ProxyError: unsupported proxy {parts.scheme}://")
    auth = b""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = b"Proxy-Authorization: Basic " + base64.b64encode(pair) + b"\r\n"
    return Proxy(Origin("http", parts.hostname, port or 80), auth)


def absolute_form(data: bytes, prefix: bytes, auth_line: bytes) -> bytes:
    """A request for a plain http proxy: `GET http://host:port/path`, plus its credentials."""
    space = data.find(b" ") + 1
    if data[space : space + 1] == b"/":
        data = data[:space] + prefix + data[space:]
    if auth_line:
        eol = data.find(b"\r\n") + 2
        data = data[:eol] + auth_line + data[eol:]
    return data


def tunnel(conn: Connection, origin: Origin, proxy: Proxy, limits: HttpLimits) -> None:
    """Ask the proxy for a tunnel to `origin` (CONNECT); TLS then runs through it."""
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    authority = f"{host}:{origin.port}".encode("ascii")
    conn.send(
        b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (authority, authority, proxy.auth_line)
    )
    first = conn.recv()
    if not first:
        raise Failure("ProxyError: connection closed")
    answer = read_response(conn, first, "CONNECT", 0, limits)
    if not 200 <= answer.status < 300:
        raise Failure(f"ProxyError: {answer.status}")
    if not answer.reusable:
        raise Failure("ProxyError: bytes before the tunnel")
