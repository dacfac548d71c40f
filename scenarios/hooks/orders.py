"""Hooks for scenarios/orders.yaml: count created and failed orders as custom metrics.

`user.metrics` holds the metrics the scenario declares under `metrics:`; each process
adds to its own, and yamlswarm merges them exactly (--processes, master and workers),
so on_test_stop's result holds the run's totals.
"""

from __future__ import annotations


def after_response(response, user):
    """Every response of the run: a checkout's answer says whether an order was created."""
    if response.method == "POST" and response.url.endswith("/checkout"):
        if response.status == 201:
            user.metrics["orders_created"].add(1)
        else:
            user.metrics["orders_failed"].add()


def on_test_stop(ctx, result):
    created = result.metrics["orders_created"]["value"]
    failed = result.metrics["orders_failed"]["value"]
    print(f"orders hooks: {created} orders created, {failed} failed")
