"""Hooks for scenarios/shop.yaml: request signing, order bookkeeping, template helpers.

yamlswarm imports this module once per process. Every function is optional;
the names below are the ones yamlswarm recognises, plus `record_order`,
which the scenario runs with a `call:` step.
"""

from __future__ import annotations

import hashlib
import os

from signing import signature  # a sibling module: hook modules may import their neighbours

SIGNING_KEY = os.environ.get("SHOP_SIGNING_KEY", "demo-signing-key").encode()
_orders: list[str] = []


def on_test_start(ctx):
    _orders.clear()


def before_request(request, user):
    """Sign every request: X-Signature = HMAC-SHA256(key, METHOD + URL + body)."""
    request.headers["X-Signature"] = signature(
        SIGNING_KEY, request.method, request.url, request.body
    )


def record_order(user):
    """Keep the order ids of this process; `user.vars` holds the user's variables."""
    order_id = user.vars.get("order_id")
    if order_id is None:
        raise ValueError("checkout returned no order_id")
    _orders.append(str(order_id))


def on_test_stop(ctx, result):
    """Counted from the run's result (the `_orders` above are one process's): in a
    distributed run the master has the merged result, each worker None."""
    if result is None:
        return
    placed = sum(
        row["requests"] - row["failures"]
        for row in result["requests"]
        if row["method"] == "POST" and row["name"].endswith("/checkout")
    )
    print(f"shop hooks: {placed} orders placed")


def template_functions():
    """Functions usable in the scenario's templates: {{ sku(product_id) }}, {{ digest(x) }}."""
    return {
        "sku": lambda product_id: f"SKU-{int(product_id):05d}",
        "digest": lambda text: hashlib.sha256(str(text).encode()).hexdigest()[:16],
    }
