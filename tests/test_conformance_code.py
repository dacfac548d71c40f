"""A hook's `user.request` takes the request step's path: the wire cases of the protocol
server, hooks on every response, the row name, defaults and session headers, redirects,
`--trace` and concurrency, each checked from the server's side and from the hooks' side.

Every protocol case runs twice (`mode`): as a YAML request step and as `user.request` in a
`call:` hook. An `after_response` hook records what it saw in both modes.
"""

from __future__ import annotations

import io
import json

import pytest

from tests.cli_helpers import run_json
from tests.http_app_server import AppServer
from tests.protocol_server import PAYLOAD, ProtocolServer
from tests.run_helpers import row, run_here
from yamlswarm.report.trace import TracePrinter

MODES = ["step", "hook"]

_SEEING = """
import gevent
SEEN = []
NAMES = []

def after_response(response, user):
    SEEN.append((response.status, response.error, response.body, response.url, response.name))
"""


def _scenario(host: str, mode: str, requests: list[dict], defaults: str = "") -> tuple[str, str]:
    """The scenario and the hooks of one user sending `requests` (method, url, body, timeout)."""
    hooks = _SEEING
    if mode == "step":
        steps = json.dumps([{"request": {k: v for k, v in r.items() if v is not None}} for r in requests])  # fmt: skip
    else:
        calls = "".join(
            f"    user.request({r['method']!r}, {r['url']!r}, body={r.get('body')!r}, "
            f"timeout={r.get('timeout')!r}{', name=' + repr(r['name']) if r.get('name') else ''})\n"
            for r in requests
        )
        hooks += f"\ndef go(user):\n{calls}"
        steps = '[{"call": "go"}]'
    text = f"host: {host}\n{defaults}load: {{iterations: 1, users: 1}}\nusers:\n  - flows:\n"
    return text + f"      - steps: {steps}\n", hooks


def _through(tmp_path, mode, host, requests, defaults="", hooks_extra="", trace=None):
    text, hooks = _scenario(host, mode, requests, defaults)
    return run_here(tmp_path, text, hooks=hooks + hooks_extra, trace=trace)


@pytest.fixture
def server():
    with ProtocolServer() as running:
        yield running


# ---------------------------------------------------------------- the protocol cases


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "method,path,status,body,error",
    [
        ("GET", "/interim/2", 200, b"final", None),
        ("GET", "/chunked", 200, b"hello world", None),
        ("GET", "/close-delimited", 200, b"until the close", None),
        ("GET", "/cl/superscript", 0, b"", "InvalidContentLength"),
        ("GET", "/cl/conflict", 0, b"", "ConflictingContentLength"),
        ("GET", "/cl/list", 200, b"hi", None),
        ("HEAD", "/nobody/200", 200, b"", None),
        ("GET", "/nobody/304", 304, b"", None),
        ("GET", "/encoded/gzip", 200, PAYLOAD, None),
        ("GET", "/encoded/br", 200, PAYLOAD, None),
        ("GET", "/encoded/zstd", 200, PAYLOAD, None),
        ("GET", "/interim-flood", 0, b"", "TooManyInterimResponses"),
        ("GET", "/garbage", 0, b"", "MalformedResponse"),
    ],
)
def test_protocol_cases(tmp_path, server, mode, method, path, status, body, error):
    runner, hooks = _through(tmp_path, mode, server.url, [{"method": method, "url": path}])
    (seen,) = hooks.SEEN
    assert seen[:3] == (status, error, body)
    assert seen[3] == server.url + path and seen[4] == path  # absolute URL, the row's name
    assert [(r.method, r.target) for r in server.requests] == [(method, path)]
    recorded = row(runner, path, method)
    assert (recorded.requests, recorded.failures) == (1, 0 if error is None else 1)


@pytest.mark.parametrize("mode", MODES)
def test_a_server_answering_early_and_a_post_never_sent_twice(tmp_path, server, mode):
    big = "x" * (4 << 20)
    requests = [
        {"method": "POST", "url": "/early-413", "body": big, "timeout": 10},
        {"method": "POST", "url": "/stale-second", "body": "1"},
        {"method": "POST", "url": "/stale-second", "body": "2"},
    ]
    runner, hooks = _through(tmp_path, mode, server.url, requests)
    assert [s[:2] for s in hooks.SEEN] == [(413, None), (200, None), (0, "ConnectionClosed")]
    assert server.count("/early-413") == 1
    assert [r.body for r in server.requests if r.path == "/stale-second"] == [b"1", b"2"]
    assert row(runner, "/early-413", "POST").failures == 1  # status >= 400 fails, as a step


# ---------------------------------------------------------------- hooks on every request


@pytest.mark.parametrize("mode", MODES)
def test_after_response_sees_refused_and_timed_out_requests(tmp_path, server, mode):
    with AppServer() as gone:
        refused = gone.url
    requests = [
        {"method": "GET", "url": f"{refused}/nobody-home"},
        {"method": "GET", "url": "/trickle/20", "timeout": 0.5},
    ]
    runner, hooks = _through(tmp_path, mode, server.url, requests)
    (first, second) = hooks.SEEN
    assert first[:2] == (0, "ConnectionRefused")
    assert first[3] == f"{refused}/nobody-home" and first[4] == f"{refused}/nobody-home"
    assert second[:2] == (0, "Timeout") and second[3] == server.url + "/trickle/20"
    assert row(runner, "/trickle/20").failures == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_before_request_hook_sees_and_changes_the_row_name(tmp_path, server, mode):
    renaming = """
def before_request(request, user):
    NAMES.append(request.name)
    request.name = "renamed " + request.name
    request.headers["X-Signed"] = "yes"
"""
    requests = [{"method": "GET", "url": "/ok", "name": "home"}]
    runner, hooks = _through(tmp_path, mode, server.url, requests, hooks_extra=renaming)
    assert hooks.NAMES == ["home"]
    assert hooks.SEEN[0][4] == "renamed home"
    assert row(runner, "renamed home").requests == 1
    assert ("home", "GET") not in runner.stats.rows or not row(runner, "home").requests
    assert server.requests[0].header("X-Signed") == "yes"


# ---------------------------------------------------------------- what user.request gets


def test_code_requests_get_defaults_session_headers_and_the_base_path(tmp_path):
    hooks = """
def go(user):
    user.request("GET", "/echo", params={"q": "red shoes"}, headers={"X-Own": "1", "X-Default": "mine"})
    user.request("POST", "echo", json={"n": 1})
"""
    text = """
        host: {url}/api/v2
        defaults:
          headers: {{X-Default: "d-{{{{ user.id }}}}", X-Other: o}}
        load: {{iterations: 1, users: 1}}
        users:
          - session: {{headers: {{X-Session: "s-{{{{ user.id }}}}"}}}}
            flows:
              - steps:
                  - set_header: {{X-Set: later}}
                  - call: go
    """
    with AppServer() as server:
        runner, _ = run_here(tmp_path, text.format(url=server.url), hooks=hooks)
    first, second = server.requests
    assert first.target == "/api/v2/echo?q=red+shoes"
    assert first.header("X-Own") == "1" and first.all("X-Default") == ["mine"]
    assert first.header("X-Other") == "o" and first.header("X-Session") == "s-1"
    assert first.header("X-Set") == "later"
    assert second.target == "/api/v2/echo" and second.body == b'{"n":1}'
    assert second.header("Content-Type") == "application/json"
    assert second.header("X-Default") == "d-1"
    assert row(runner, "/echo").failures == 0 and row(runner, "echo", "POST").failures == 0


def test_concurrent_code_requests_of_one_user_each_get_a_connection(tmp_path, server):
    hooks = """
import gevent

def go(user):
    jobs = [gevent.spawn(user.request, "GET", "/trickle/2", timeout=5) for _ in range(2)]
    gevent.joinall(jobs, raise_error=True)
    user.vars["statuses"] = [job.value.status for job in jobs]
    OUT.extend(user.vars["statuses"])

OUT = []
"""
    text = "host: {url}\nload: {{iterations: 1, users: 1}}\nusers:\n  - flows:\n      - steps: [{{call: go}}]\n"  # fmt: skip
    runner, module = run_here(tmp_path, text.format(url=server.url), hooks=hooks)
    assert module.OUT == [200, 200]
    assert server.connections == 2 and server.count("/trickle/2") == 2
    recorded = row(runner, "/trickle/2")
    assert (recorded.requests, recorded.failures) == (2, 0)
    assert row(runner, "go", "CALL").failures == 0


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limit,sent,status,error", [(0, 1, 302, None), (3, 4, 302, "too many redirects (3)"), (30, 21, 200, None)])  # fmt: skip
def test_max_redirects(tmp_path, mode, limit, sent, status, error):
    with AppServer() as server:
        runner, hooks = _through(
            tmp_path,
            mode,
            server.url,
            [{"method": "GET", "url": "/redirect/302?to=/x&n=19", "name": "chain"}],
            defaults=f"defaults: {{max_redirects: {limit}}}\n",
        )
    assert len(server.requests) == sent
    assert hooks.SEEN[0][:2] == (status, error)
    totals = sum(r.requests for r in runner.stats.rows.values() if r.method == "GET")
    assert totals == sent  # every hop the server answered is counted
    assert row(runner, "chain").failures == (0 if error is None else 1)


@pytest.mark.parametrize("mode", MODES)
def test_trace_shows_each_hop_and_hooks_see_the_history(tmp_path, mode):
    history = """
def after_response(response, user):
    SEEN.append((response.status, response.error, response.body, response.url, response.name))
    NAMES.extend((hop.status, hop.url) for hop in response.history)
"""
    out = io.StringIO()
    with AppServer() as server:
        _, hooks = _through(
            tmp_path,
            mode,
            server.url,
            [{"method": "GET", "url": "/redirect/307?to=/final&n=1"}],
            hooks_extra=history,
            trace=TracePrinter(out, colour=False),
        )
    assert [status for status, _ in hooks.NAMES] == [307, 307]
    assert hooks.NAMES[1][1].startswith(server.url + "/redirect/307?")
    text = out.getvalue()
    assert text.count("-> 307 Temporary Redirect") == 2
    assert f"GET {server.url}/final -> 200 OK" in text


# ---------------------------------------------------------------- our bugs are not failures

_BROKEN = """
from yamlswarm.runtime.http import session


def _broken(self, *args, **kwargs):
    raise AttributeError("'Connection' object has no attribute 'injected_fault'")


session.Session._exchange = _broken  # a bug of ours, injected


def go(user):
    user.request("GET", "/from-hook")
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_bug_of_ours_stops_the_run_with_exit_3_and_the_results_so_far(tmp_path, mode):
    (tmp_path / "hooks.py").write_text(_BROKEN)
    step = "{get: /from-step}" if mode == "step" else "{call: go}"
    text = f"version: 1\nhooks: hooks.py\nload: {{iterations: 50, users: 2}}\nusers:\n  - flows:\n      - steps: [{step}]\n"  # fmt: skip
    with AppServer() as server:
        run, result = run_json(tmp_path, text, server.url)
    assert run.returncode == 3, run.stderr
    assert result is not None  # the JSON output was still written
    assert "Traceback (most recent call last)" in run.stderr
    assert "AttributeError: 'Connection' object has no attribute 'injected_fault'" in run.stderr
    assert "This is a bug in yamlswarm" in run.stderr and "Please report it" in run.stderr
    assert "Aggregated" in run.stdout or "requests" in run.stdout  # the table was printed
    assert result["totals"]["failures"] == 0  # not recorded as the target's failures
    assert server.requests == []
