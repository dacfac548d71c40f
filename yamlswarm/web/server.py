"""The web UI of one run: a gevent WSGI server in this process, fed by the observer seam.

`WebUI` is an observer (runtime.observers): the runner (or a master) hands it
a `Tick` once a second and closes it with the result. It starts listening as
soon as it is made, so the page is there while the run waits for Start.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any, TextIO

import gevent
import gevent.event

from yamlswarm.errors import StartError, UsageError
from yamlswarm.web.app import WebApp
from yamlswarm.web.board import Board, point_of

if TYPE_CHECKING:
    from yamlswarm import plan as p
    from yamlswarm.runtime.observers import Tick
    from yamlswarm.runtime.steering import Steering
    from yamlswarm.settings import RunSettings

DEFAULT_WEB = "127.0.0.1:8089"


def parse_web(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `:PORT` (loopback) -> (host, port); UsageError otherwise."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--web {address!r} is not HOST:PORT (e.g. {DEFAULT_WEB})")
    return host, int(port)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_web_bind(host: str, token: str | None) -> None:
    """Refuse a UI reachable from other machines without the run token."""
    if token is None and not is_loopback(host):
        raise UsageError(
            f"refusing to serve the web UI on {host} without a token: anyone who reaches it "
            f"could start and steer the load; pass --token T (or set YAMLSWARM_TOKEN), "
            f"or serve it on 127.0.0.1"
        )


class WebUI:
    """The live web UI of one run (an Observer)."""

    def __init__(
        self,
        plan: p.Plan,
        settings: RunSettings,
        steering: Steering,
        *,
        role: str,
        out: TextIO,
        err: TextIO,
    ) -> None:
        from gevent.pywsgi import WSGIServer

        host, port = parse_web(settings.web or DEFAULT_WEB)
        token = settings.web_token
        check_web_bind(host, token)
        self.settings = settings
        self.steering = steering
        self.err = err
        self.board = Board(plan, steering, role=role, elapsed=steering.elapsed)
        self.app = WebApp(self.board, token=token, loopback=is_loopback(host))
        self.server = WSGIServer((host, port), self.app, log=None, error_log=None)
        try:
            self.server.start()
        except OSError as exc:
            raise StartError(
                f"cannot serve the web UI on {host}:{port}: {exc.strerror or exc}"
            ) from None
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.server.server_port}/"
        waiting = "" if steering.started.is_set() else " - press Start there (or POST /swarm)"
        print(f"web UI on {self.url}{waiting}", file=err, flush=True)

    # -- the observer ---------------------------------------------------------------------

    def second(self, tick: Tick) -> None:
        self.board.second(tick.stats, tick.users, point_of(tick.second))

    def close(self, result: Any | None) -> None:
        self.board.finish(result)
        self.board.push()
        try:
            self._linger()
        finally:
            self.server.stop(timeout=1)

    def _linger(self) -> None:
        """After the run: keep the page up for --autoquit seconds, or until Ctrl-C."""
        autoquit = self.settings.autoquit
        if autoquit is not None and autoquit <= 0:
            return
        quit_now = gevent.event.Event()
        handlers = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers.append(gevent.signal_handler(sig, quit_now.set))
            except (ValueError, OSError):  # not the main thread
                pass
        if autoquit is None:
            print(
                f"the run has ended; the web UI stays on {self.url} (Ctrl-C to quit)",
                file=self.err,
                flush=True,
            )
        try:
            quit_now.wait(autoquit)
        finally:
            for handler in handlers:
                handler.cancel()


def web_observer(env: Any) -> WebUI | None:
    """The OBSERVERS factory: a WebUI when the run asked for `--web`."""
    if not env.settings.web or env.steering is None:
        return None
    from yamlswarm.web import metrics

    metrics.mount()
    return WebUI(env.plan, env.settings, env.steering, role=env.role, out=env.out, err=env.err)
