"""The web UI's WSGI app called directly: routes mounted by other parts (`EXTRA_ROUTES`, e.g.
`GET /metrics`) sit behind the same guard as the UI's own."""

from __future__ import annotations

import io
import json

from fakes import plan_from_yaml

from yamlswarm.runtime.steering import Steering
from yamlswarm.web import app as web_app
from yamlswarm.web.board import Board

SCENARIO = """
load: {users: 1, duration: 1s}
users:
  - name: u
    flows:
      - name: f
        steps:
          - get: /x
"""


def _call(app, path: str, **headers: str) -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(),
        "HTTP_HOST": "127.0.0.1:8089",
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    seen = {}
    body = b"".join(app(environ, lambda status, _headers: seen.update(status=status)))
    return seen["status"], body


def _app(tmp_path, token=None):
    plan = plan_from_yaml(tmp_path, SCENARIO)
    steering = Steering(plan.load, wait_for_start=True, spawn_rate=None)
    board = Board(plan, steering, role="local", elapsed=steering.elapsed)
    return web_app.WebApp(board, token=token, loopback=True)


def test_an_extra_route_is_served_behind_the_guard(tmp_path, monkeypatch):
    def metrics(request):
        return web_app.Reply(200, b"yamlswarm_users 0\n", content_type="text/plain")

    monkeypatch.setitem(web_app.EXTRA_ROUTES, "/metrics", metrics)
    app = _app(tmp_path, token="t")
    assert _call(app, "/metrics")[0].startswith("401")
    status, body = _call(app, "/metrics", authorization="Bearer t")
    assert status.startswith("200") and body == b"yamlswarm_users 0\n"
    assert _call(app, "/metrics", host="evil.example", authorization="Bearer t")[0].startswith(
        "403"
    )


def test_the_page_and_its_assets_come_from_the_package(tmp_path):
    app = _app(tmp_path)
    status, page = _call(app, "/")
    assert status.startswith("200") and b'src="/static/app.js"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing from the network
    for asset in ("/static/app.js", "/static/app.css"):
        status, body = _call(app, asset)
        assert status.startswith("200") and body
        assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
    status, body = _call(app, "/stats/requests")
    assert json.loads(body)["state"] == "ready"
