"""The demo shop API as a plain WSGI app: JSON routes, bearer tokens, carts, orders, latency jitter."""

from __future__ import annotations

import json
import random
import re
import secrets
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

# Seconds of simulated server work per request: a (low, high) range drawn
# uniformly, a constant, or 0 / None for none.
Latency = tuple[float, float] | float | None
DEFAULT_LATENCY: tuple[float, float] = (0.002, 0.030)

API = "/api/v1"
PASSWORD = "secret"
MAX_BODY = 1 << 20
MAX_QTY = 100

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PRODUCT_PATH = re.compile(r"^/api/v1/products/([^/]+)$")
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
_ADJECTIVES = ("Classic", "Rugged", "Compact", "Deluxe", "Organic")
_NOUNS = ("Mug", "Backpack", "Lamp", "Notebook")

StartResponse = Callable[..., Any]
Reply = tuple[int, Any]


class _HTTPError(Exception):
    """An error answer: status code plus a message put into {"error": ...}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _make_products() -> tuple[dict[str, Any], ...]:
    rng = random.Random(20240611)
    products = []
    for index in range(20):
        name = f"{_ADJECTIVES[index % 5]} {_NOUNS[index // 5]}"
        price = round(rng.uniform(4, 180), 0) - 0.01
        products.append(
            {"id": index + 1, "name": name, "price": price, "stock": rng.randint(0, 250)}
        )
    return tuple(products)


PRODUCTS = _make_products()
_PRODUCTS_BY_ID = {p["id"]: p for p in PRODUCTS}
_PRODUCT_LIST_BODY = json.dumps(
    {"products": [{"id": p["id"], "name": p["name"], "price": p["price"]} for p in PRODUCTS]}
).encode()


class _Request:
    """The parts of a WSGI environ the handlers need."""

    __slots__ = ("environ", "method", "path", "token", "user")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path: str = environ.get("PATH_INFO") or "/"
        self.user: str | None = None
        self.token: str | None = None

    def bearer(self) -> str | None:
        value = self.environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def json(self) -> dict[str, Any]:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _HTTPError(400, "bad Content-Length") from None
        if length > MAX_BODY:
            raise _HTTPError(413, "body too large")
        raw = self.environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise _HTTPError(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _HTTPError(400, "body must be a JSON object")
        return data


def _int_field(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _HTTPError(400, f"'{key}' must be an integer")
    return value


class DemoApp:
    """The WSGI callable. One instance holds all state (sessions, carts, orders, counters)."""

    def __init__(
        self,
        latency: Latency = DEFAULT_LATENCY,
        sleep: Callable[[float], Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._latency = _normalise_latency(latency)
        self._sleep = sleep or _gevent_sleep()
        self._rng = rng or random.Random()
        self.sessions: dict[str, str] = {}
        self.carts: dict[str, dict[int, int]] = {}
        self.orders: dict[str, list[dict[str, Any]]] = {}
        self._next_order = 1
        self._routes: dict[str, dict[str, Callable[[_Request], Reply]]] = {
            "/login": {"POST": self._login},
            "/logout": {"POST": self._logout},
            "/health": {"GET": self._health},
            f"{API}/products": {"GET": self._products},
            f"{API}/cart": {"POST": self._cart, "GET": self._get_cart},
            f"{API}/checkout": {"POST": self._checkout},
            f"{API}/orders": {"GET": self._orders},
        }
        self.reset_stats()

    # -- counters -------------------------------------------------------

    def reset_stats(self) -> None:
        self.total = 0
        self.by_route: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.orders_placed = 0  # since the last reset, with the sum of their totals
        self.orders_value = 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "by_route": dict(self.by_route),
            "by_status": dict(self.by_status),
            "orders": {"placed": self.orders_placed, "value": round(self.orders_value, 2)},
        }

    def _count(self, route: str, status: int) -> None:
        self.total += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1
        key = str(status)
        self.by_status[key] = self.by_status.get(key, 0) + 1

    # -- WSGI -------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(environ)
        if request.path in ("/_stats", "/_reset"):
            return self._control(request, start_response)
        route, handler = self._resolve(request)
        if self._latency is not None:
            self._sleep(
                self._latency[0]
                if self._latency[0] == self._latency[1]
                else self._rng.uniform(*self._latency)
            )
        try:
            status, body = handler(request)
        except _HTTPError as error:
            status, body = error.status, {"error": error.message}
        self._count(route, status)
        payload = _respond(start_response, status, body)
        # HEAD: the same headers (Content-Length included) and no body, as HTTP requires
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else payload

    def _control(self, request: _Request, start_response: StartResponse) -> Iterable[bytes]:
        if request.path == "/_reset":
            if request.method != "POST":
                return _respond(start_response, 405, {"error": "use POST"})
            self.reset_stats()
            return _respond(start_response, 204, None)
        return _respond(start_response, 200, self.stats())

    def _resolve(self, request: _Request) -> tuple[str, Callable[[_Request], Reply]]:
        methods = self._routes.get(request.path)
        template = request.path
        if methods is None:
            match = _PRODUCT_PATH.match(request.path)
            if match is None:
                return "unmatched", _not_found
            template, methods = f"{API}/products/{{id}}", {"GET": self._product}
        handler = methods.get(request.method)
        if handler is None:
            return f"{request.method} {template}", _method_not_allowed
        if template.startswith(API):
            return f"{request.method} {template}", self._authenticated(handler)
        return f"{request.method} {template}", handler

    def _authenticated(self, handler: Callable[[_Request], Reply]) -> Callable[[_Request], Reply]:
        def run(request: _Request) -> Reply:
            token = request.bearer()
            user = self.sessions.get(token) if token else None
            if user is None:
                raise _HTTPError(401, "missing or invalid bearer token")
            request.token, request.user = token, user
            return handler(request)

        return run

    # -- handlers ---------------------------------------------------------

    def _health(self, request: _Request) -> Reply:
        return 200, b"ok"

    def _login(self, request: _Request) -> Reply:
        data = request.json()
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str):
            raise _HTTPError(400, "'username' and 'password' must be non-empty strings")
        if password != PASSWORD:
            raise _HTTPError(401, "wrong username or password")
        token = secrets.token_hex(16)
        self.sessions[token] = username
        return 200, {"access_token": token, "token_type": "bearer"}

    def _logout(self, request: _Request) -> Reply:
        token = request.bearer()
        if not token or self.sessions.pop(token, None) is None:
            raise _HTTPError(401, "missing or invalid bearer token")
        self.carts.pop(token, None)
        return 204, None

    def _products(self, request: _Request) -> Reply:
        return 200, _PRODUCT_LIST_BODY

    def _product(self, request: _Request) -> Reply:
        product_id = request.path.rsplit("/", 1)[1]
        product = _PRODUCTS_BY_ID.get(int(product_id)) if product_id.isdigit() else None
        if product is None:
            raise _HTTPError(404, f"no product {product_id}")
        return 200, product

    def _cart(self, request: _Request) -> Reply:
        data = request.json()
        product_id, qty = _int_field(data, "product_id"), _int_field(data, "qty")
        if not 1 <= qty <= MAX_QTY:
            raise _HTTPError(400, f"'qty' must be between 1 and {MAX_QTY}")
        if product_id not in _PRODUCTS_BY_ID:
            raise _HTTPError(404, f"no product {product_id}")
        cart = self.carts.setdefault(request.token or "", {})
        cart[product_id] = cart.get(product_id, 0) + qty
        return 200, _cart_view(cart)

    def _get_cart(self, request: _Request) -> Reply:
        return 200, _cart_view(self.carts.get(request.token or "", {}))

    def _checkout(self, request: _Request) -> Reply:
        email = request.json().get("email")
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise _HTTPError(400, "'email' must be an email address")
        cart = self.carts.get(request.token or "")
        if not cart:
            raise _HTTPError(400, "the cart is empty")
        view = _cart_view(cart)
        order = {
            "order_id": self._next_order,
            "total": view["total"],
            "items": sum(cart.values()),
            "email": email,
        }
        self._next_order += 1
        self.orders_placed += 1
        self.orders_value += order["total"]
        self.orders.setdefault(request.user or "", []).append(order)
        self.carts.pop(request.token or "", None)
        return 201, {"order_id": order["order_id"], "total": order["total"]}

    def _orders(self, request: _Request) -> Reply:
        return 200, {"orders": self.orders.get(request.user or "", [])}


def make_app(
    latency: Latency = DEFAULT_LATENCY,
    sleep: Callable[[float], Any] | None = None,
    rng: random.Random | None = None,
) -> DemoApp:
    """Build the demo WSGI app. `latency` is seconds: (low, high), a constant, or 0/None for none."""
    return DemoApp(latency=latency, sleep=sleep, rng=rng)


def _cart_view(cart: dict[int, int]) -> dict[str, Any]:
    items = []
    for product_id, qty in cart.items():
        product = _PRODUCTS_BY_ID[product_id]
        items.append(
            {
                "product_id": product_id,
                "name": product["name"],
                "price": product["price"],
                "qty": qty,
                "subtotal": round(product["price"] * qty, 2),
            }
        )
    return {"items": items, "total": round(sum(item["subtotal"] for item in items), 2)}


def _not_found(request: _Request) -> Reply:
    raise _HTTPError(404, f"no route {request.path}")


def _method_not_allowed(request: _Request) -> Reply:
    raise _HTTPError(405, f"method {request.method} not allowed on {request.path}")


def _respond(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
    if status == 204 or body is None:
        start_response(_STATUS_LINES[status], [("Content-Length", "0")])
        return []
    if isinstance(body, bytes):
        kind = "application/json" if body[:1] in (b"{", b"[") else "text/plain; charset=utf-8"
        payload = body
    else:
        kind, payload = "application/json", json.dumps(body).encode()
    start_response(
        _STATUS_LINES[status], [("Content-Type", kind), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def _normalise_latency(latency: Latency) -> tuple[float, float] | None:
    if latency is None:
        return None
    if isinstance(latency, (int, float)):
        low = high = float(latency)
    else:
        low, high = (float(v) for v in latency)
    if low < 0 or high < low:
        raise ValueError(f"latency must be 0 <= low <= high seconds, got {latency!r}")
    return None if high == 0 else (low, high)


def _gevent_sleep() -> Callable[[float], Any]:
    import gevent

    return gevent.sleep
