"""The demo shop API through real servers on 127.0.0.1: a standalone subprocess and an in-process one."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pytest

from yamlswarm.demo.app import PRODUCTS, make_app
from yamlswarm.demo.server import require_loopback, start_demo_server


@pytest.fixture(scope="module")
def demo_port():
    process = subprocess.Popen(
        [sys.executable, "-m", "yamlswarm.demo.server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("demo API listening on http://127.0.0.1:"), process.stderr.read()
        yield int(line.rsplit(":", 1)[1])
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


class Client:
    """A tiny JSON client over one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.token: str | None = None

    def call(self, method: str, path: str, body=None, raw: bytes | None = None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json else data

    def login(self, username: str = "alice") -> Client:
        status, body = self.call("POST", "/login", {"username": username, "password": "secret"})
        assert status == 200
        self.token = body["access_token"]
        return self


def test_health_needs_no_auth(demo_port):
    assert Client(demo_port).call("GET", "/health") == (200, b"ok")


def test_login(demo_port):
    client = Client(demo_port)
    status, body = client.call("POST", "/login", {"username": "a", "password": "secret"})
    assert status == 200 and len(body["access_token"]) == 32
    int(body["access_token"], 16)
    other = client.call("POST", "/login", {"username": "a", "password": "secret"})[1]
    assert other["access_token"] != body["access_token"]
    assert client.call("POST", "/login", {"username": "a", "password": "nope"})[0] == 401
    assert client.call("POST", "/login", {"password": "secret"})[0] == 400
    assert client.call("POST", "/login", raw=b"{not json")[0] == 400


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/products"),
        ("GET", "/api/v1/products/1"),
        ("POST", "/api/v1/cart"),
        ("POST", "/api/v1/checkout"),
        ("GET", "/api/v1/orders"),
        ("POST", "/logout"),
    ],
)
def test_auth_required(demo_port, method, path):
    client = Client(demo_port)
    assert client.call(method, path, {})[0] == 401
    client.token = "0" * 32
    status, body = client.call(method, path, {})
    assert status == 401 and "token" in body["error"]


def test_products(demo_port):
    client = Client(demo_port).login()
    status, body = client.call("GET", "/api/v1/products")
    assert status == 200 and len(body["products"]) == 20
    assert all(set(p) == {"id", "name", "price"} for p in body["products"])
    status, product = client.call("GET", "/api/v1/products/7")
    assert status == 200 and set(product) == {"id", "name", "price", "stock"}
    assert product["id"] == 7 and product["name"] == body["products"][6]["name"]
    assert client.call("GET", "/api/v1/products/999")[0] == 404
    assert client.call("GET", "/api/v1/products/abc")[0] == 404
    assert client.call("DELETE", "/api/v1/products")[0] == 405


def test_cart_totals_and_per_token_carts(demo_port):
    alice, bob = Client(demo_port).login("alice"), Client(demo_port).login("bob")
    price = {p["id"]: p["price"] for p in PRODUCTS}
    alice.call("POST", "/api/v1/cart", {"product_id": 1, "qty": 2})
    status, cart = alice.call("POST", "/api/v1/cart", {"product_id": 5, "qty": 1})
    assert status == 200
    assert cart["total"] == round(price[1] * 2 + price[5], 2)
    status, cart = alice.call("POST", "/api/v1/cart", {"product_id": 1, "qty": 1})
    assert [(i["product_id"], i["qty"]) for i in cart["items"]] == [(1, 3), (5, 1)]
    status, other = bob.call("POST", "/api/v1/cart", {"product_id": 2, "qty": 1})
    assert [i["product_id"] for i in other["items"]] == [2]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"product_id": "1", "qty": 1}, 400),
        ({"product_id": 1, "qty": "2"}, 400),
        ({"product_id": True, "qty": 1}, 400),
        ({"product_id": 1, "qty": 0}, 400),
        ({"product_id": 1}, 400),
        ({"product_id": 99, "qty": 1}, 404),
    ],
)
def test_cart_rejects_bad_input(demo_port, body, status):
    assert Client(demo_port).login().call("POST", "/api/v1/cart", body)[0] == status


def test_checkout_and_orders(demo_port):
    client = Client(demo_port).login("carol")
    assert client.call("POST", "/api/v1/checkout", {"email": "c@example.com"})[0] == 400  # empty
    _, cart = client.call("POST", "/api/v1/cart", {"product_id": 3, "qty": 4})
    for bad in ("not-an-email", "a@b", "", 42):
        assert client.call("POST", "/api/v1/checkout", {"email": bad})[0] == 400
    status, order = client.call("POST", "/api/v1/checkout", {"email": "c@example.com"})
    assert status == 201 and order["total"] == cart["total"]
    assert client.call("GET", "/api/v1/cart")[1] == {"items": [], "total": 0}
    status, orders = client.call("GET", "/api/v1/orders")
    assert [o["order_id"] for o in orders["orders"]] == [order["order_id"]]


def test_logout_invalidates_the_token(demo_port):
    client = Client(demo_port).login()
    assert client.call("POST", "/logout") == (204, b"")
    assert client.call("GET", "/api/v1/products")[0] == 401


def test_keep_alive_requests_have_no_delayed_ack_stall(demo_port):
    client = Client(demo_port).login()
    elapsed = []
    for _ in range(9):
        start = time.perf_counter()
        client.call("POST", "/api/v1/cart", {"product_id": 1, "qty": 1})
        elapsed.append(time.perf_counter() - start)
    assert sorted(elapsed)[4] < 0.02  # Nagle + delayed ACK would make each ~40 ms


def test_counters_match_what_was_sent(demo_port):
    client = Client(demo_port)
    assert client.call("POST", "/_reset")[0] == 204
    client.login()
    for _ in range(3):
        client.call("GET", "/api/v1/products")
    client.call("GET", "/api/v1/products/2")
    client.call("GET", "/api/v1/products/3")
    client.call("GET", "/nowhere")
    status, stats = client.call("GET", "/_stats")
    assert status == 200
    assert stats["requests"] == 7
    assert stats["by_route"] == {
        "POST /login": 1,
        "GET /api/v1/products": 3,
        "GET /api/v1/products/{id}": 2,
        "unmatched": 1,
    }
    assert stats["by_status"] == {"200": 6, "404": 1}
    assert client.call("GET", "/_stats")[1]["requests"] == 7  # /_stats is not counted


def test_in_process_server_with_latency():
    from geventhttpclient import HTTPClient

    with start_demo_server(latency=(0.05, 0.06)) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        client = HTTPClient.from_url(server.url, concurrency=1)
        start = time.perf_counter()
        response = client.get("/health")
        assert (response.status_code, response.read()) == (200, b"ok")
        assert time.perf_counter() - start >= 0.05
        assert server.app.stats()["by_route"] == {"GET /health": 1}
        client.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_refuses_non_loopback_hosts(host):
    with pytest.raises(ValueError, match="only listens on loopback"):
        start_demo_server(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_accepted(host):
    require_loopback(host)


def test_standalone_refuses_non_loopback():
    result = subprocess.run(
        [sys.executable, "-m", "yamlswarm.demo.server", "--host", "0.0.0.0", "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "loopback" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_latency_is_rejected():
    with pytest.raises(ValueError):
        make_app(latency=(0.03, 0.01))
    with pytest.raises(ValueError):
        make_app(latency=-1)
