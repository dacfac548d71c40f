"""Cookies as the server receives them (RFC 6265 through `http.cookiejar`): Domain, Path,
Secure, deletion, redirect hops and a user's own `Cookie` header, for request steps and a
hook's `user.request` alike.

Host names other than loopback are needed for Domain and Secure, so every request goes
through the test `ForwardProxy` (`defaults.proxy`), which takes `*.test` names for
127.0.0.1; the jar's rules one by one are in `tests/test_cookies.py`.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.http_app_server import AppServer
from tests.protocol_server import ForwardProxy
from tests.run_helpers import run_here

SET = [
    "host=1",
    "dom=1; Domain=shop.test",
    "path=1; Path=/only-here",
    "sec=1; Secure",
    "gone=1",
    "later=1; Max-Age=100",
]


@pytest.fixture(autouse=True)
def only_the_test_proxy(monkeypatch):
    """Every request goes through the loopback ForwardProxy: no NO_PROXY may send a `*.test`
    name anywhere else (it would be a DNS query leaving the machine)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


FOREIGN_DELETE = "dom=; Domain=shop.test; Max-Age=0"  # from other.test: not its domain


def _requests(port: int) -> list[tuple[str, str, dict[str, str]]]:
    api, www, other = (f"http://{h}:{port}" for h in ("api.shop.test", "www.shop.test", "other.test"))  # fmt: skip
    return [
        ("set", f"{api}/set-cookie?" + urlencode([("c", c) for c in SET]), {}),
        ("api", f"{api}/x", {}),
        ("www", f"{www}/x", {}),
        ("path", f"{api}/only-here/y", {}),
        ("other", f"{other}/x", {}),
        ("foreign", f"{other}/set-cookie?" + urlencode([("c", FOREIGN_DELETE)]), {}),
        ("kept", f"{api}/x", {}),
        ("delete", f"{api}/set-cookie?" + urlencode([("c", "gone=; Max-Age=0")]), {}),
        ("after", f"{api}/x", {}),
        ("hop-away", f"{api}/redirect/302?" + urlencode({"to": f"{other}/final"}), {}),
        ("hop-path", f"{api}/redirect/302?" + urlencode({"to": "/only-here/final"}), {}),
        ("own", f"{api}/own", {"Cookie": "mine=1"}),
        ("loop-set", "{local}/set-cookie?" + urlencode([("c", "lsec=1; Secure")]), {}),
        ("loop", "{local}/x", {}),
    ]


def _scenario(mode: str, proxy: str, local: str, port: int) -> tuple[str, str]:
    requests = [(n, u.replace("{local}", local), h) for n, u, h in _requests(port)]
    if mode == "step":
        steps = [{"get": url, "name": name, "headers": headers} for name, url, headers in requests]
        hooks = ""
        text = f"steps: {json.dumps(steps)}"
    else:
        calls = "".join(f"    user.request('GET', {u!r}, name={n!r}, headers={h!r})\n" for n, u, h in requests)  # fmt: skip
        hooks = f"def go(user):\n{calls}"
        text = 'steps: [{"call": "go"}]'
    scenario = f"host: {local}\ndefaults: {{proxy: {proxy}}}\nload: {{iterations: 1, users: 1}}\n"
    return scenario + f"users:\n  - flows:\n      - {text}\n", hooks


def _cookies(seen) -> str | None:
    """The one Cookie header's pairs, sorted (the order among equal paths is the jar's)."""
    values = seen.all("Cookie")
    assert len(values) <= 1, values  # never two Cookie headers
    return "; ".join(sorted(values[0].split("; "))) if values else None


@pytest.mark.parametrize("mode", ["step", "hook"])
def test_cookies_from_the_servers_side(tmp_path, mode):
    with ForwardProxy() as proxy, AppServer() as server:
        text, hooks = _scenario(mode, proxy.url, server.url, server.port)
        runner, _ = run_here(tmp_path, text, hooks=hooks or None)
    got = [(r.header("Host").split(":")[0], r.path, _cookies(r)) for r in server.requests]
    assert got == [
        ("api.shop.test", "/set-cookie", None),
        ("api.shop.test", "/x", "dom=1; gone=1; host=1; later=1"),  # not Path, not Secure
        ("www.shop.test", "/x", "dom=1"),  # only the Domain cookie
        ("api.shop.test", "/only-here/y", "dom=1; gone=1; host=1; later=1; path=1"),
        ("other.test", "/x", None),
        ("other.test", "/set-cookie", None),  # deletes shop.test's cookie: not its domain
        ("api.shop.test", "/x", "dom=1; gone=1; host=1; later=1"),  # so it is kept
        ("api.shop.test", "/set-cookie", "dom=1; gone=1; host=1; later=1"),
        ("api.shop.test", "/x", "dom=1; host=1; later=1"),  # deleted by Max-Age=0
        ("api.shop.test", "/redirect/302", "dom=1; host=1; later=1"),
        ("other.test", "/final", None),  # chosen again for the hop's URL: none there
        ("api.shop.test", "/redirect/302", "dom=1; host=1; later=1"),
        ("api.shop.test", "/only-here/final", "dom=1; host=1; later=1; path=1"),
        ("api.shop.test", "/own", "mine=1"),  # the user's own header replaces the jar's
        ("127.0.0.1", "/set-cookie", None),
        ("127.0.0.1", "/x", "lsec=1"),  # Secure, yet loopback http counts as secure
    ]
    assert sum(r.failures for r in runner.stats.rows.values()) == 0
