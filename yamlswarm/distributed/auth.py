"""Who may talk to whom: bind-address policy, CURVE keys derived from the token, a ZAP handler.

With a token both sides derive two CURVE key pairs from it (server and
client). The master is a CURVE server and its ZAP handler accepts only the
derived client key; a worker sets the derived server key, so it can complete
a handshake only with a master that knows the token — it never runs a bundle
from anyone else. Without a token the master may bind loopback only, and
makes up a token for the run (`new_token`) so that other local users cannot
join it either: it prints it with the command that starts a worker.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from collections.abc import Callable
from typing import Any

from yamlswarm.errors import UsageError

TOKEN_ENV = "YAMLSWARM_TOKEN"
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"yamlswarm"

__all__ = [
    "TOKEN_ENV",
    "KeyPair",
    "check_bind",
    "client_keys",
    "is_loopback",
    "join_hint",
    "new_token",
    "parse_address",
    "resolve_token",
    "server_keys",
    "start_zap",
]

KeyPair = tuple[bytes, bytes]  # (public, secret), both Z85-encoded


def resolve_token(token: str | None) -> str | None:
    """The token from the command line, else from $YAMLSWARM_TOKEN; empty means none."""
    value = token if token is not None else os.environ.get(TOKEN_ENV)
    return value or None


def new_token() -> str:
    """A random token for one run (URL- and shell-safe characters)."""
    return secrets.token_urlsafe(24)


def join_hint(host: str, port: int, token: str) -> str:
    """What the master prints when it made up its token: how to start a worker."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"no --token given: workers need this run's token; start one on this machine with\n"
        f"  {TOKEN_ENV}={token} yamlswarm worker --master {address}"
    )


def _derive(token: str, role: str) -> KeyPair:
    import zmq
    from zmq.utils import z85

    secret = z85.encode(hashlib.sha256(f"yamlswarm-{role}:".encode() + token.encode()).digest())
    return zmq.curve_public(secret), secret


def server_keys(token: str) -> KeyPair:
    return _derive(token, "server")


def client_keys(token: str) -> KeyPair:
    return _derive(token, "client")


def parse_address(address: str, *, option: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) -> (host, port); UsageError when malformed."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{option} {address!r} is not HOST:PORT (e.g. 127.0.0.1:5557)")
    return host, int(port)


def endpoint(host: str, port: int | str) -> str:
    """A zmq tcp endpoint (IPv6 literals in brackets)."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose a master beyond this machine without a shared secret."""
    if token is None and not is_loopback(host):
        raise UsageError(
            f"refusing to bind {host} without a token: workers run the code the master sends, "
            f"so a master reachable from other machines needs a shared secret "
            f"(--token or ${TOKEN_ENV}); without one, bind 127.0.0.1"
        )


def start_zap(context: Any, token: str, on_refused: Callable[[str], None]) -> Any:
    """Serve ZAP requests in a greenlet: accept CURVE clients with the token's client key only."""
    import gevent
    import zmq.green as zmq
    from zmq.utils import z85

    allowed = client_keys(token)[0]
    handler = context.socket(zmq.REP)
    handler.linger = 0
    handler.bind(ZAP_ENDPOINT)

    def serve() -> None:
        try:
            while True:
                frames = handler.recv_multipart()
                version, request_id, _domain, address, _identity, mechanism = frames[:6]
                key = frames[6] if len(frames) > 6 else b""
                ok = mechanism == b"CURVE" and len(key) == 32 and z85.encode(key) == allowed
                if not ok:
                    on_refused(address.decode(errors="replace"))
                status = (b"200", b"OK") if ok else (b"400", b"wrong token")
                handler.send_multipart([version, request_id, *status, b"", b""])
        finally:
            handler.close()

    return gevent.spawn(serve)
