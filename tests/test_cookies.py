"""The cookie jar's rules (RFC 6265 through `http.cookiejar`), one case each, without a network.

What a server sees of them (through a proxy, so host names other than loopback can be
used, and across redirects) is in `tests/test_conformance_cookies.py`.
"""

from __future__ import annotations

import time

import pytest

from yamlswarm.runtime.http.cookies import CookieJar, is_loopback
from yamlswarm.runtime.http.message import parse_origin

_PAST = "Thu, 01 Jan 1970 00:00:00 GMT"


def _jar(url: str, *lines: str) -> CookieJar:
    jar = CookieJar()
    _set(jar, url, *lines)
    return jar


def _set(jar: CookieJar, url: str, *lines: str) -> dict[str, str]:
    origin = parse_origin(url.split("/", 3)[0] + "//" + url.split("/", 3)[2])
    return jar.update(origin, "/" + url.split("/", 3)[3] if url.count("/") > 2 else "/", lines)


def _sent(jar: CookieJar, url: str) -> str | None:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return jar.header(parse_origin(f"{scheme}://{host}"), "/" + path)


@pytest.mark.parametrize(
    "set_at,line,asked,sent",
    [
        # Domain: host-only without it, the domain and its subdomains with it
        ("http://shop.test/", "a=1", "http://shop.test/", "a=1"),
        ("http://shop.test/", "a=1", "http://api.shop.test/", None),
        ("http://shop.test/", "a=1", "http://other.test/", None),
        ("http://api.shop.test/", "a=1; Domain=shop.test", "http://shop.test/", "a=1"),
        ("http://api.shop.test/", "a=1; Domain=shop.test", "http://www.shop.test/", "a=1"),
        ("http://api.shop.test/", "a=1; Domain=.shop.test", "http://api.shop.test/x", "a=1"),
        ("http://api.shop.test/", "a=1; Domain=shop.test", "http://notshop.test/", None),
        ("http://shop.test/", "a=1; Domain=other.test", "http://other.test/", None),  # refused
        # Path: an explicit one, and the default (the directory of the request path)
        ("http://shop.test/", "a=1; Path=/only-here", "http://shop.test/only-here", "a=1"),
        ("http://shop.test/", "a=1; Path=/only-here", "http://shop.test/only-here/x", "a=1"),
        ("http://shop.test/", "a=1; Path=/only-here", "http://shop.test/", None),
        ("http://shop.test/", "a=1; Path=/only-here", "http://shop.test/only-herex", None),
        ("http://shop.test/a/b/login", "a=1", "http://shop.test/a/b/c", "a=1"),
        ("http://shop.test/a/b/login", "a=1", "http://shop.test/a/x", None),
        ("http://shop.test/login", "a=1", "http://shop.test/anything/else", "a=1"),
        # Secure: https only, and plain http to loopback as browsers do
        ("https://shop.test/", "a=1; Secure", "http://shop.test/", None),
        ("https://shop.test/", "a=1; Secure", "https://shop.test/", "a=1"),
        ("http://localhost:8080/", "a=1; Secure", "http://localhost:8080/", "a=1"),
        ("http://127.0.0.1:8080/", "a=1; Secure", "http://127.0.0.1:8080/", "a=1"),
        # a cookie is not bound to a port (RFC 6265 8.5)
        ("http://shop.test:8080/", "a=1", "http://shop.test:9090/", "a=1"),
        # Expires / Max-Age: Max-Age wins, either way round
        ("http://shop.test/", f"a=1; Max-Age=100; Expires={_PAST}", "http://shop.test/", "a=1"),
        ("http://shop.test/", f"a=1; Expires={_PAST}; Max-Age=100", "http://shop.test/", "a=1"),
        ("http://shop.test/", f"a=1; Expires={_PAST}", "http://shop.test/", None),
        ("http://shop.test/", "a=1; Max-Age=0", "http://shop.test/", None),
        # not a cookie (RFC 6265 5.2: no '=')
        ("http://shop.test/", "flag", "http://shop.test/", None),
        # a quoted value goes back as it came
        ("http://shop.test/", 'a="x y"', "http://shop.test/", 'a="x y"'),
    ],
)
def test_which_cookies_a_request_gets(set_at, line, asked, sent):
    assert _sent(_jar(set_at, line), asked) == sent


def test_deletion_by_max_age_zero_and_by_a_past_expiry():
    jar = _jar("http://shop.test/", "a=1", "b=2", "c=3")
    assert _sent(jar, "http://shop.test/") == "a=1; b=2; c=3"
    _set(jar, "http://shop.test/", "a=; Max-Age=0")
    assert _sent(jar, "http://shop.test/") == "b=2; c=3"
    _set(jar, "http://shop.test/", "b=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert _sent(jar, "http://shop.test/") == "c=3"
    _set(jar, "http://shop.test/a/x", "c=; Max-Age=0")  # path /a: not the same cookie
    assert _sent(jar, "http://shop.test/") == "c=3"
    _set(jar, "http://shop.test/a/x", "c=; Path=/; Max-Age=0")
    assert _sent(jar, "http://shop.test/") is None
    assert not jar.active


def test_only_a_host_that_may_set_a_cookie_may_delete_it():
    jar = _jar("http://www.shop.test/", "sid=1; Domain=shop.test", "own=1")
    _set(jar, "http://other.test/", "sid=; Domain=shop.test; Max-Age=0")  # not its domain
    _set(jar, "http://other.test/", f"own=; Expires={_PAST}")  # host-only: other.test's own
    assert _sent(jar, "http://www.shop.test/") == "sid=1; own=1"
    _set(jar, "http://api.shop.test/", "sid=; Domain=shop.test; Max-Age=0")  # its domain
    assert _sent(jar, "http://www.shop.test/") == "own=1"
    _set(jar, "http://www.shop.test/", "own=; Max-Age=0")
    assert _sent(jar, "http://www.shop.test/") is None


def test_a_cookie_expires_while_the_user_runs(monkeypatch):
    jar = _jar("http://shop.test/", "short=1; Max-Age=2", "long=1; Max-Age=100")
    assert _sent(jar, "http://shop.test/") == "short=1; long=1"
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert _sent(jar, "http://shop.test/") == "long=1"  # even though it was remembered


def test_replacing_a_value_and_longest_path_first():
    jar = _jar("http://shop.test/", "a=1", "b=1; Path=/cart")
    _set(jar, "http://shop.test/", "a=2")
    assert _sent(jar, "http://shop.test/cart/items") == "b=1; a=2"


def test_what_a_response_set_is_returned_by_name():
    jar = CookieJar()
    fresh = _set(jar, "http://shop.test/", 'sid="abc"', "flag", "gone=; Max-Age=0", "x=1; Domain=other.test")  # fmt: skip
    assert fresh == {"sid": "abc"}  # unquoted, for extraction; refused and deleted ones absent


def test_an_empty_jar_does_no_work():
    jar = CookieJar()
    assert not jar.active and _sent(jar, "http://shop.test/") is None
    _set(jar, "http://shop.test/", "a=1")
    assert jar.active
    jar.clear()
    assert not jar.active and jar.cookies() == []


@pytest.mark.parametrize(
    "host,loopback",
    [("localhost", True), ("app.localhost", True), ("127.0.0.1", True), ("127.9.9.9", True),
     ("::1", True), ("LOCALHOST.", True), ("shop.test", False), ("10.0.0.1", False),
     ("localhost.example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback
