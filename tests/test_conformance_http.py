"""HTTP semantics as the server sees them, for a YAML request step and a hook's `user.request`:
base-URL paths, percent-encoding, head safety, headers replacing defaults, redirects."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_json
from tests.http_app_server import AppServer

MODES = ["step", "hook"]


def _run(tmp_path, mode, host, method, url, headers=None, body=""):
    """One request through the CLI, as a YAML step or from a hook; the JSON result."""
    headers = headers or {}
    if mode == "step":
        step = {"request": {"method": method, "url": url, "headers": headers, "body": body}}
        steps, hooks = json.dumps([step]), ""
    else:
        (tmp_path / "hooks.py").write_text(
            "def go(user):\n"
            f"    user.request({method!r}, {url!r}, headers={headers!r}, body={body!r})\n"
        )
        steps, hooks = '[{"call": "go"}]', "hooks: hooks.py\n"
    text = f"version: 1\n{hooks}load: {{iterations: 1, users: 1}}\nusers:\n  - flows:\n"
    text += f"      - steps: {steps}\n"
    run, result = run_json(tmp_path, text, host)
    assert result is not None, run.stderr
    return result


@pytest.mark.parametrize("mode", MODES)
def test_base_path_is_kept_and_urls_are_encoded(tmp_path, mode):
    with AppServer() as server:
        _run(tmp_path, mode, server.url + "/api/v2/", "GET", "/products?q=red shoes ü&x=%2F")
        _run(tmp_path, mode, server.url + "/api/v2", "GET", server.url + "/abs")
    assert [r.target for r in server.requests] == [
        "/api/v2/products?q=red%20shoes%20%C3%BC&x=%2F",
        "/abs",
    ]


def test_ipv6_literal_host(tmp_path):
    try:
        server = AppServer(ipv6=True)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        result = _run(tmp_path, "step", server.url, "GET", "/six")
    assert result["totals"]["failures"] == 0
    assert server.requests[0].target == "/six"
    assert server.requests[0].header("Host") == f"[::1]:{server.port}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "headers,error",
    [
        ({"X-Evil": "a\r\nInjected: yes"}, "invalid header value"),
        ({"X-Name": "café ✓"}, "invalid header value"),
        ({"Bad Name": "x"}, "invalid header name"),
    ],
)
def test_unsafe_heads_are_named_errors_never_sent(tmp_path, mode, headers, error):
    with AppServer() as server:
        result = _run(tmp_path, mode, server.url, "GET", "/x", headers)
    assert server.requests == []
    assert result["totals"]["failures"] == 1
    assert any(error in e["error"] for e in result["errors"]), result["errors"]


@pytest.mark.parametrize("mode", MODES)
def test_user_headers_replace_defaults(tmp_path, mode):
    headers = {"host": "example.test", "user-agent": "me/1", "cookie": "a=1"}
    with AppServer() as server:
        _run(tmp_path, mode, server.url, "GET", "/x", headers)
    seen = server.requests[0]
    assert seen.all("Host") == ["example.test"]
    assert seen.all("User-Agent") == ["me/1"]
    assert seen.all("Cookie") == ["a=1"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "status,method,expect_method,keeps_body",
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
    ],
)
def test_redirect_policy(tmp_path, mode, status, method, expect_method, keeps_body):
    with AppServer() as server:
        url = f"/redirect/{status}?to=/final"
        headers = {"Authorization": "Bearer t", "Content-Type": "text/plain"}
        result = _run(tmp_path, mode, server.url, method, url, headers, "payload")
    first, final = server.requests
    assert first.method == method and first.body == b"payload"
    assert final.path == "/final" and final.method == expect_method
    assert final.header("Authorization") == "Bearer t"  # same origin: kept
    assert (final.body == b"payload") is keeps_body
    assert result["totals"]["requests"] == len(server.requests)  # every hop is counted


@pytest.mark.parametrize("mode", MODES)
def test_credentials_dropped_across_origins(tmp_path, mode):
    with AppServer() as other, AppServer() as server:
        url = f"/redirect/307?to={other.url}/final"
        _run(tmp_path, mode, server.url, "GET", url, {"Authorization": "Bearer t", "X-K": "1"})
    (final,) = other.requests
    assert final.header("Authorization") is None and final.header("X-K") == "1"


@pytest.mark.parametrize("mode", MODES)
def test_too_many_redirects_is_named_and_counted(tmp_path, mode):
    with AppServer() as server:
        result = _run(tmp_path, mode, server.url, "GET", "/redirect/302?to=/x&n=20")
    assert len(server.requests) == 11  # the first request and 10 hops
    assert result["totals"]["requests"] == 11
    assert any("too many redirects" in e["error"] for e in result["errors"]), result["errors"]
