"""Serve the demo shop API on a loopback port with gevent's WSGI server (in-process or standalone)."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from typing import Any

from yamlswarm.demo.app import DEFAULT_LATENCY, DemoApp, Latency, make_app

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class DemoServer:
    """A running demo API: `.port`, `.url`, `.app` (counters, state) and `.stop()`."""

    def __init__(self, server: Any, app: DemoApp, host: str) -> None:
        self._server = server
        self.app = app
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting, give open requests up to `timeout` seconds, then close."""
        self._server.stop(timeout=timeout)

    def serve_forever(self) -> None:
        """Block (cooperatively) until the server is stopped."""
        self._server.serve_forever()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def require_loopback(host: str) -> None:
    """Raise ValueError unless `host` is a loopback name or address (127.0.0.0/8, ::1)."""
    if host.lower() in _LOOPBACK_NAMES:
        return
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"the demo API only listens on loopback, not on {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the demo API only listens on loopback, not on {host!r}")


def start_demo_server(
    host: str = "127.0.0.1", port: int = 0, latency: Latency = DEFAULT_LATENCY
) -> DemoServer:
    """Start the demo API in the current gevent hub (the caller has monkey-patched) and return it.

    `latency` is seconds of simulated work per request: (low, high), a constant, 0 for none;
    the default draws 2-30 ms.
    """
    require_loopback(host)
    app = make_app(latency=latency)
    server = _server_class()((host.strip("[]"), port), app, log=None, backlog=1024)
    server.start()
    return DemoServer(server, app, host.strip("[]"))


def _server_class() -> type:
    """gevent's WSGIServer with TCP_NODELAY on every connection.

    pywsgi sends the headers and the body in two writes; with Nagle's algorithm on, the
    second waits for the client's delayed ACK and every keep-alive response gains ~40 ms.
    """
    import socket

    from gevent.pywsgi import WSGIServer

    class _NoDelayServer(WSGIServer):
        def handle(self, sock: Any, address: Any) -> None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().handle(sock, address)

    return _NoDelayServer


def _parse_latency_ms(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(",")
    try:
        low_s = float(low) / 1000
        high_s = float(high) / 1000 if sep else low_s
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MS or LOW,HIGH in ms, got {text!r}") from None
    if low_s < 0 or high_s < low_s:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, got {text!r}")
    return low_s, high_s


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m yamlswarm.demo.server",
        description="Run the yamlswarm demo shop API in the foreground (loopback only).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)"
    )
    parser.add_argument(
        "--latency",
        type=_parse_latency_ms,
        default=DEFAULT_LATENCY,
        metavar="MS|LOW,HIGH",
        help="simulated work per request in ms: a constant or a range (default 2,30; 0 = none)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo API in the foreground until Ctrl-C or SIGTERM."""
    args = _arguments(argv)
    try:
        require_loopback(args.host)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import gevent

    try:
        server = start_demo_server(args.host, args.port, latency=args.latency)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 3
    gevent.signal_handler(signal.SIGTERM, server.stop)
    print(f"demo API listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop(timeout=0)
    return 0


if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()
    sys.exit(main())
