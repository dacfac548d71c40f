"""A hostile server against checks and extraction, through `yamlswarm run`: catastrophic regexes
and deeply nested JSON become named, counted errors on their rows, and every user goes on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli_helpers import run_json, write_scenario, yamlswarm

EVIL = "^(a|a)+$"  # exponential for a backtracking engine on the text below
EVIL_TEXT = "a" * 41 + "b"
ROUTES = {
    "/evil": ({"X-Evil": EVIL_TEXT}, EVIL_TEXT.encode()),
    "/evil.json": ({}, json.dumps({"name": EVIL_TEXT}).encode()),
    "/deep": ({}, b"[" * 100_000 + b"]" * 100_000),  # 200 KB
    "/ok": ({}, b'{"ok": true}'),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        headers, body = ROUTES.get(self.path, ({}, b"not found"))
        self.send_response(200 if self.path in ROUTES else 404)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SCENARIO = f"""
version: 1
load: {{users: 2, spawn_rate: 100, duration: 3s}}
users:
  - name: hostile
    count: 1
    flows:
      - steps:
          - get: /evil
            name: evil body
            check: {{body_matches: '{EVIL}'}}
          - get: /evil
            name: evil header
            check: {{header: {{X-Evil: {{matches: '{EVIL}'}}}}}}
          - get: /evil.json
            name: evil jmespath
            check: {{jmespath: [{{expr: name, matches: '{EVIL}'}}]}}
          - get: /evil
            name: evil extract
            extract: {{found: {{regex: '{EVIL}', group: 0}}}}
          - get: /deep
            name: deep check
            check: {{jmespath: [{{expr: "length(@)", gt: 0}}]}}
          - get: /deep
            name: deep extract
            extract: {{first: {{jmespath: "[0]"}}}}
          - get: /ok
            name: after
            check: {{jmespath: [{{expr: ok, eq: true}}]}}
  - name: calm
    count: 1
    wait: {{constant: 10ms}}
    flows:
      - steps:
          - get: /ok
            name: calm
            check: {{body_matches: '\\p{{Ll}}+'}}
"""

TIMED_OUT = "(regex timed out after 100ms)"
TOO_DEEP = "(response JSON nested deeper than 256 levels)"
EXPECTED = {
    "evil body": f"check failed: body_matches '{EVIL}' {TIMED_OUT}",
    "evil header": f"check failed: header X-Evil matches {EVIL} {TIMED_OUT}",
    "evil jmespath": f"check failed: jmespath name matches '{EVIL}' {TIMED_OUT}",
    "evil extract": f"extract found: regex '{EVIL}' {TIMED_OUT}",
    "deep check": f"check failed: jmespath length(@) {TOO_DEEP}",
    "deep extract": f"extract first: jmespath [0] {TOO_DEEP}",
}


def test_hostile_bodies_are_counted_errors_and_every_user_goes_on(tmp_path, hostile):
    start = time.monotonic()
    run, result = run_json(tmp_path, SCENARIO, hostile)
    took = time.monotonic() - start
    assert result is not None, run.stderr
    assert took < 20, f"the run took {took:.1f}s for a 3s test"
    rows = {row["name"]: row for row in result["requests"]}
    errors = {(e["name"], e["error"]): e["count"] for e in result["errors"]}
    for name, error in EXPECTED.items():
        row = rows[name]
        assert row["requests"] >= 1, name
        # every request of the row failed, with exactly this error
        assert errors.get((name, error)) == row["requests"] == row["failures"], (name, errors)
    assert {name for name, _ in errors} == set(EXPECTED), errors
    # the hostile user's flow went on past every failure, iteration after iteration
    assert rows["after"]["failures"] == 0
    assert rows["after"]["requests"] >= rows["evil body"]["requests"] - 1 >= 1
    # the other user was never frozen (with `re` it would not get past the first evil search;
    # each timed-out search still holds the gevent loop for its 100 ms, hence so few)
    assert rows["calm"]["failures"] == 0 and rows["calm"]["requests"] >= 5, rows["calm"]


def test_validate_accepts_what_the_run_engine_accepts(tmp_path):
    # `\p{Ll}` is a regex-package pattern that `re` refuses: validate and run agree on it
    scenario = write_scenario(tmp_path, SCENARIO)
    checked = yamlswarm("validate", scenario)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = write_scenario(tmp_path, SCENARIO.replace("\\p{Ll}+", "a("), "bad.yaml")
    refused = yamlswarm("validate", bad)
    assert refused.returncode != 0
    assert "invalid regular expression 'a('" in refused.stdout + refused.stderr
