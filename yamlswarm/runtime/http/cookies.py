"""A virtual user's cookie jar: RFC 6265 as the standard library's `http.cookiejar` decides it.

`CookieJar` adapts our origins and request targets to `http.cookiejar.CookieJar` with a
`DefaultCookiePolicy`, which decides every rule: a cookie without `Domain` is host-only
(sent back to that exact host, `DomainStrictNonDomain`), one with `Domain=example.com`
goes to that domain and its subdomains (never set for an unrelated domain); `Path`
(default: the directory of the request path) is path-matched; `Expires` and `Max-Age`
(which wins) expire it, and a date in the past or `Max-Age=0` deletes it, when the policy
would have let that response set the cookie (the standard library deletes before asking, so
a response from one host could delete another domain's cookie); cookies are sent longest
path first. A `Set-Cookie` without `=` is ignored (RFC 6265 5.2).

`Secure` cookies are sent over https (and wss) only, with the exception browsers make
(Chrome, Firefox: "potentially trustworthy" origins, W3C Secure Contexts): plain http to
a loopback host (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) counts as secure, so a
scenario that logs in against a local development server behaves as a browser there.

The hot path pays nothing while the jar is empty (`active` is False); otherwise the
`Cookie` value per (origin, path) is remembered until the jar changes or its first cookie
expires, so a user that sends the same URL repeatedly asks the policy once.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from yamlswarm.runtime.http.message import Origin

if TYPE_CHECKING:
    from urllib.request import Request

__all__ = ["CookieJar", "is_loopback"]

_CACHE_SIZE = 256  # remembered Cookie values (per origin and path) before starting over


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an IP literal, without brackets) is this machine."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Policy(http.cookiejar.DefaultCookiePolicy):
    """The standard policy, host-only cookies kept to their host, loopback http secure."""

    def __init__(self) -> None:
        super().__init__(strict_ns_domain=http.cookiejar.DefaultCookiePolicy.DomainStrictNonDomain)

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Request) -> bool:
        if getattr(request, "loopback", False):
            return True
        return super().return_ok_secure(cookie, request)


class _Jar(http.cookiejar.CookieJar):
    """The standard jar, its deletions by an expired `Set-Cookie` held back while it parses a
    response (`make_cookies` deletes before any policy is asked), for `update` to check."""

    def __init__(self, policy: _Policy) -> None:
        super().__init__(policy)
        self.deletions: list[tuple[str, str, str]] | None = None

    def clear(
        self, domain: str | None = None, path: str | None = None, name: str | None = None
    ) -> None:
        if (
            self.deletions is not None
            and domain is not None
            and path is not None
            and name is not None
        ):
            self.deletions.append((domain, path, name))
            return
        super().clear(domain, path, name)


def _deletion(domain: str, path: str, name: str) -> http.cookiejar.Cookie:
    """The cookie an expired `Set-Cookie` names, for the policy to judge as if it were set
    (`http.cookiejar` dots a `Domain` attribute; a host-only cookie's domain is the host)."""
    specified = domain.startswith(".")
    return http.cookiejar.Cookie(
        0, name, "", None, False, domain, specified, False, path, True, False, None, True,
        None, None, {},
    )  # fmt: skip


class _Exchange:
    """One request as `http.cookiejar` reads it (the parts of `urllib.request.Request` it uses)
    and, for `make_cookies`, its response (`info().get_all`)."""

    __slots__ = ("_lines", "_url", "cookie", "host", "loopback", "type")

    unverifiable = False

    def __init__(self, origin: Origin, target: str, lines: Iterable[str] = ()) -> None:
        self._url = f"{origin!r}{target}"
        self._lines = list(lines)
        self.host = origin.host_header
        self.type = origin.scheme
        self.loopback = not origin.tls and is_loopback(origin.host)
        self.cookie: str | None = None

    # the request side
    def get_full_url(self) -> str:
        return self._url

    @property
    def origin_req_host(self) -> str:
        return self.host

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return default

    def has_header(self, name: str) -> bool:
        return False

    def add_unredirected_header(self, name: str, value: str) -> None:
        if name.lower() == "cookie":
            self.cookie = value

    # the response side
    def info(self) -> _Exchange:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        if name.lower() == "set-cookie":
            return list(self._lines)
        return default


class CookieJar:
    """One virtual user's cookies (see the module docstring)."""

    __slots__ = ("_cache", "_expires", "_jar", "_policy", "active")

    def __init__(self) -> None:
        # made when the first Set-Cookie arrives: a user that gets none costs no jar at all
        self._policy: _Policy | None = None
        self._jar: _Jar | None = None
        self._cache: dict[tuple[tuple[str, str, int], str], str | None] = {}
        self._expires = math.inf  # when the first stored cookie expires
        self.active = False  # any cookie stored (False: no jar work at all)

    def header(self, origin: Origin, target: str) -> str | None:
        """The `Cookie` value for a request to `origin` with `target`, or None."""
        jar = self._jar
        if not self.active or jar is None:
            return None
        if time.time() >= self._expires:
            jar.clear_expired_cookies()
            self._changed()
            if not self.active:
                return None
        key = (origin.key, target.partition("?")[0])
        cache = self._cache
        if key in cache:
            return cache[key]
        probe = _Exchange(origin, target)
        jar.add_cookie_header(cast("Request", probe))
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = probe.cookie
        return probe.cookie

    def update(self, origin: Origin, target: str, set_cookies: Iterable[str]) -> dict[str, str]:
        """Store what the `Set-Cookie` lines of a response to `origin` + `target` set, as the
        policy allows (an expired one deletes); the cookies set, by name (quotes removed)."""
        if self._jar is None or self._policy is None:
            self._policy = _Policy()
            self._jar = _Jar(self._policy)
        jar, policy = self._jar, self._policy
        exchange = _Exchange(origin, target, set_cookies)
        request = cast("Request", exchange)
        jar.deletions = []
        try:
            made = jar.make_cookies(cast(Any, exchange), request)
        finally:
            deletions, jar.deletions = jar.deletions, None
        for domain, path, name in deletions:
            if policy.set_ok(_deletion(domain, path, name), request):
                try:
                    jar.clear(domain, path, name)
                except KeyError:  # no such cookie stored
                    pass
        fresh: dict[str, str] = {}
        for cookie in made:
            if cookie.value is None:  # `Set-Cookie: name` without '=': ignored (RFC 6265 5.2)
                continue
            if policy.set_ok(cookie, request):
                jar.set_cookie(cookie)
                value = cookie.value
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                fresh[cookie.name] = value
        self._changed()
        return fresh

    def cookies(self) -> list[http.cookiejar.Cookie]:
        """Every cookie stored (for tests and tracing)."""
        return list(self._jar) if self._jar is not None else []

    def clear(self) -> None:
        if self._jar is not None:
            self._jar.clear()
        self._changed()

    def _changed(self) -> None:
        self._cache.clear()
        stored = self.cookies()
        self.active = bool(stored)
        self._expires = min((c.expires for c in stored if c.expires is not None), default=math.inf)
