"""The web UI's WSGI application: the page, its event stream, the Locust-compatible API.

Routes are a table (`ROUTES`, path -> handler); `EXTRA_ROUTES` is where other
parts mount more (e.g. `GET /metrics`), each `handler(request) -> Reply`.

Safety, checked before any handler runs (`Guard`):

- a UI bound beyond loopback requires the run token on every request but the
  static page (header `Authorization: Bearer T` or `X-Yamlswarm-Token: T`, or
  `?token=T` for the event stream);
- a UI bound to loopback answers only to a loopback `Host` (no DNS rebinding);
- a request that changes the run (start, stop, reset, steer) is refused when a
  browser says it comes from another site (`Origin` not this UI's own, or
  `Sec-Fetch-Site` cross-site): no other page can drive the run. curl sends
  neither header and needs nothing more.
"""

from __future__ import annotations

import hmac
import json
import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from yamlswarm.web import locust

if TYPE_CHECKING:
    from yamlswarm.result import RunResult
    from yamlswarm.web.board import Board

MAX_BODY = 64 * 1024
MAX_USERS = 1_000_000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class Reply:
    """What a handler answers: status, body and content type (a dict or list is JSON)."""

    status: int
    body: Any = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One request as the handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    app: WebApp

    def form(self) -> dict[str, str]:
        """Form fields of a urlencoded body (or a JSON object body), and the query's."""
        fields = {k: v[-1] for k, v in self.query.items() if k != "token"}
        if self.body:
            kind = self.headers.get("content-type", "")
            if kind.startswith("application/json"):
                try:
                    data = json.loads(self.body)
                except ValueError:
                    raise HTTPError(400, "the body is not JSON") from None
                if not isinstance(data, dict):
                    raise HTTPError(400, "the body must be a JSON object")
                fields.update({str(k): "" if v is None else str(v) for k, v in data.items()})
            else:
                text = self.body.decode("utf-8", errors="replace")
                fields.update({k: v[-1] for k, v in parse_qs(text).items()})
        return fields


Handler = Callable[[Request], Reply]
EXTRA_ROUTES: dict[str, Handler] = {}  # path -> handler, mounted by other parts (GET /metrics)


class WebApp:
    """The WSGI callable of one run's web UI."""

    def __init__(self, board: Board, *, token: str | None, loopback: bool) -> None:
        self.board = board
        self.token = token
        self.loopback = loopback
        self.scrape: dict[str, Any] = {}  # GET /metrics: its sampler and run id, made at first use
        self.routes: dict[tuple[str, str], tuple[Handler, bool]] = {
            # (method, path) -> (handler, changes the run)
            ("GET", "/events"): (_events, False),
            ("GET", "/api/state"): (_state, False),
            ("GET", "/api/result"): (_result, False),
            ("GET", "/api/report.json"): (_report_json, False),
            ("GET", "/api/report.html"): (_report_html, False),
            ("GET", "/api/report.csv"): (_report_csv, False),
            ("POST", "/swarm"): (_swarm, True),
            ("POST", "/api/steer"): (_swarm, True),
            ("GET", "/stop"): (_stop, True),
            ("POST", "/stop"): (_stop, True),
            ("GET", "/stats/reset"): (_reset, True),
            ("POST", "/stats/reset"): (_reset, True),
            ("GET", "/stats/requests"): (_stats_requests, False),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            reply = self._dispatch(environ)
        except HTTPError as exc:
            reply = Reply(exc.status, {"success": False, "message": exc.message})
        except Exception as exc:  # a bug here never reaches the load; the browser learns of it
            reply = Reply(500, {"success": False, "message": f"internal error: {exc!r:.200}"})
        return _respond(reply, start_response)

    def _dispatch(self, environ: dict[str, Any]) -> Reply:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/") or "/"
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        self._check_host(headers)
        if path in _STATIC and method in ("GET", "HEAD"):
            return _static(*_STATIC[path])
        if path == "/api/info" and method == "GET":  # the page asks whether to ask for a token
            return _info(Request(method, path, query, headers, b"", self))
        self._check_token(headers, query)
        extra = EXTRA_ROUTES.get(path)
        route = self.routes.get((method, path))
        if route is None and extra is None:
            known = any(p == path for _, p in self.routes)
            raise HTTPError(405 if known else 404, "method not allowed" if known else "not found")
        changes = route[1] if route else False
        if changes:
            self._check_origin(headers)
        body = _read_body(environ) if method == "POST" else b""
        request = Request(method, path, query, headers, body, self)
        return (route[0] if route else extra)(request)  # type: ignore[misc]

    # -- the guard ----------------------------------------------------------------------

    def _check_host(self, headers: dict[str, str]) -> None:
        if not self.loopback:
            return
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.lower() not in LOOPBACK_HOSTS:
            raise HTTPError(403, f"this UI answers to a loopback host only, not {host!r}")

    def _check_token(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        if self.token is None:
            return
        given = headers.get("x-yamlswarm-token") or ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given and query.get("token"):
            given = query["token"][-1]
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise HTTPError(401, "this UI needs the run's token (--token / YAMLSWARM_TOKEN)")

    def _check_origin(self, headers: dict[str, str]) -> None:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise HTTPError(403, f"refused a {site} request: only this UI's own page may do that")
        origin = headers.get("origin")
        if origin is None:
            return
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != headers.get("host", "").lower():
            raise HTTPError(403, f"refused a request from {origin}: not this UI's own page")

    # -- results ------------------------------------------------------------------------

    def result_so_far(self) -> RunResult:
        """The run's result: the final one once it ended, else a snapshot of the numbers so far."""
        board = self.board
        if board.result is not None:
            return board.result
        if board.stats is None:
            raise HTTPError(409, "no numbers yet: the run has not started")
        from yamlswarm.result import describe_model
        from yamlswarm.runtime.slo import evaluate

        plan, elapsed = board.plan, board.elapsed()
        return board.stats.snapshot(
            scenario=plan.name,
            model=describe_model(plan.load, plan.iterations_cap),
            thresholds=[evaluate(t, board.stats, elapsed) for t in plan.thresholds],
            duration_s=elapsed,
        )


# ----------------------------------------------------------------------------- handlers


def _events(request: Request) -> Reply:
    board = request.app.board
    client = board.connect()
    if client is None:
        raise HTTPError(503, "too many browsers are connected")
    first = b"retry: 2000\n\n" + board.hello()

    def stream() -> Iterable[bytes]:
        try:
            yield from client.messages(first)
        finally:
            board.disconnect(client)

    headers = [("X-Accel-Buffering", "no")]
    return Reply(200, content_type="text/event-stream", headers=headers, stream=stream())


def _info(request: Request) -> Reply:
    return Reply(200, {"token_required": request.app.token is not None})


def _state(request: Request) -> Reply:
    return Reply(200, request.app.board.snapshot())


def _stats_requests(request: Request) -> Reply:
    return Reply(200, locust.locust_stats(request.app.board.snapshot()))


def _result(request: Request) -> Reply:
    return Reply(200, request.app.result_so_far().to_dict())


def _report_json(request: Request) -> Reply:
    text = json.dumps(request.app.result_so_far().to_dict(), indent=2) + "\n"
    return _download(text.encode(), "application/json", "yamlswarm-result.json")


def _report_html(request: Request) -> Reply:
    from yamlswarm.report.html import render_html

    page = render_html(request.app.result_so_far())
    return _download(page.encode(), "text/html; charset=utf-8", "yamlswarm-report.html")


CSV_KINDS = ("stats", "failures", "exceptions", "transactions", "metrics")  # the files of --csv


def _report_csv(request: Request) -> Reply:
    from yamlswarm.report.files import write_csv

    kind = (request.query.get("kind") or ["stats"])[-1]
    if kind not in CSV_KINDS:
        raise HTTPError(400, f"kind must be one of {', '.join(CSV_KINDS)}, not {kind!r}")
    result = request.app.result_so_far()
    if kind == "metrics" and not result.metrics:
        raise HTTPError(404, "this scenario declares no custom metrics (metrics:)")
    with tempfile.TemporaryDirectory(prefix="yamlswarm-web-") as tmp:
        paths = write_csv(result, Path(tmp) / "run")
        data = next(p for p in paths if p.name == f"run_{kind}.csv").read_bytes()
    return _download(data, "text/csv; charset=utf-8", f"yamlswarm_{kind}.csv")


def _swarm(request: Request) -> Reply:
    """Locust's `POST /swarm`: start the run, or change users, spawn rate or arrival rate."""
    app, fields = request.app, request.form()
    steering = app.board.steering
    users = _number(fields, "user_count", int, 0, MAX_USERS)
    spawn_rate = _number(fields, "spawn_rate", float, 0.0, 1e6)
    rate = _number(fields, "rate", float, 0.0, 1e7)
    _check_host_field(fields.get("host"), app.board.plan.host)
    if steering.state in ("stopping", "stopped") or app.board.result is not None:
        raise HTTPError(409, "the run has ended; start a new one from the command line")
    if (users is not None or spawn_rate is not None) and not steering.steerable_users:
        hint = " (set rate instead)" if steering.kind == "open" else ""
        raise HTTPError(
            400,
            f"user_count and spawn_rate steer a closed model; this scenario's load model "
            f"is '{steering.kind}'{hint}",
        )
    if rate is not None and steering.kind != "open":
        raise HTTPError(400, f"rate steers an open model; this one is '{steering.kind}'")
    starting = not steering.started.is_set()
    if starting:
        steering.change(rate=rate)
        steering.start(users, spawn_rate)
    else:
        steering.change(users, spawn_rate, rate)
    message = "Swarming started" if starting else "Load changed"
    return Reply(
        200,
        {
            "success": True,
            "message": message,
            "host": app.board.plan.host,
            "user_count": steering.users,
            "spawn_rate": steering.spawn_rate,
            "rate": steering.rate,
        },
    )


def _check_host_field(host: str | None, plan_host: str | None) -> None:
    if host and host.rstrip("/") != (plan_host or "").rstrip("/"):
        raise HTTPError(
            400,
            f"the host is fixed when the run starts ({plan_host}); "
            f"restart with --host {host} to test another",
        )


def _number(fields: dict[str, str], name: str, kind: type, low: float, high: float) -> Any:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(float(text)) if kind is int and "." not in text else kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise HTTPError(400, f"{name} must be {what}, not {text[:40]!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise HTTPError(400, f"{name} must be between {low:g} and {high:g}, not {text[:40]}")
    return value


def _stop(request: Request) -> Reply:
    request.app.board.steering.stop("stopped from the web UI")
    return Reply(200, {"success": True, "message": "Test stopped"})


def _reset(request: Request) -> Reply:
    request.app.board.steering.reset_stats()
    return Reply(200, b"ok", content_type="text/plain; charset=utf-8")


# ----------------------------------------------------------------------------- plumbing


def _download(data: bytes, content_type: str, filename: str) -> Reply:
    return Reply(
        200,
        data,
        content_type=content_type,
        headers=[("Content-Disposition", f'attachment; filename="{filename}"')],
    )


def _static(name: str, content_type: str) -> Reply:
    data = resources.files("yamlswarm.web").joinpath("static").joinpath(name).read_bytes()
    return Reply(200, data, content_type=content_type, headers=[("Content-Security-Policy", _CSP)])


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HTTPError(400, "bad Content-Length") from None
    if length > MAX_BODY:
        raise HTTPError(413, f"a body over {MAX_BODY} bytes")
    return environ["wsgi.input"].read(length) if length > 0 else b""


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _respond(reply: Reply, start_response: Callable) -> Iterable[bytes]:
    status = f"{reply.status} {_REASONS.get(reply.status, 'Unknown')}"
    headers = [("Content-Type", reply.content_type), *_SECURITY_HEADERS, *reply.headers]
    if reply.stream is not None:
        start_response(status, headers)
        return reply.stream
    body = reply.body
    if isinstance(body, (dict, list)):
        body = json.dumps(body, allow_nan=False, default=str).encode()
    elif isinstance(body, str):
        body = body.encode()
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
