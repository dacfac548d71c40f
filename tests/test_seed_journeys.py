"""The seed journeys in scenarios/ (shop: the shopping journey, member: the authenticated user)
run through the CLI against the demo API, which counts what it answered."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import REPO, yamlswarm

SCENARIOS = REPO / "scenarios"


def _run(demo_api, tmp_path: Path, scenario: str, *extra: str):
    demo_api.reset()
    out = tmp_path / "result.json"
    run = yamlswarm(
        "run",
        SCENARIOS / scenario,
        "--host",
        demo_api.url,
        "--json",
        out,
        "-q",
        "--seed",
        "3",
        *extra,
        timeout=180,
    )
    return run, json.loads(out.read_text()), demo_api.stats()


def test_the_shopping_journey_logs_in_once_per_user_and_sends_its_token(demo_api, tmp_path):
    run, result, stats = _run(demo_api, tmp_path, "shop.yaml", "-u", "5", "-r", "50", "-t", "6s")
    assert run.returncode == 0, run.stdout + run.stderr
    routes = stats["by_route"]
    assert routes["POST /login"] == 4  # weights 4:1 of 5 users: 4 shoppers, 1 window shopper
    # every authenticated route answered 2xx: the session header carried the token;
    # the only 401s are the window shopper's, which expects them
    anonymous = next(r for r in result["requests"] if r["name"].endswith("(anonymous)"))
    assert stats["by_status"].get("401", 0) == anonymous["requests"]
    assert result["totals"]["failures"] == 0
    placed = stats["by_status"].get("201", 0)
    assert f"shop hooks: {placed} orders placed" in run.stdout


def test_the_member_journey_opens_its_dashboard_in_parallel(demo_api, tmp_path):
    run, result, stats = _run(demo_api, tmp_path, "member.yaml", "-u", "3", "-r", "50", "-t", "4s")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {(r["name"], r["method"]): r for r in result["requests"]}
    dashboards = rows[("dashboard", "GROUP")]["requests"]
    assert dashboards > 0 and rows[("dashboard", "GROUP")]["failures"] == 0
    routes = stats["by_route"]
    assert routes["GET /api/v1/cart"] >= dashboards  # each dashboard fetched the cart
    assert stats["by_status"].get("401", 0) == 0  # every request after login had the token
    assert result["totals"]["failures"] == 0
    assert routes["POST /login"] >= 3


def test_the_shop_hooks_count_the_whole_runs_orders_when_distributed(demo_api, tmp_path):
    run, _, stats = _run(
        demo_api, tmp_path, "shop.yaml", "-u", "8", "-r", "50", "-t", "6s", "--processes", "2"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    placed = stats["by_status"].get("201", 0)
    assert placed > 0  # with --seed 3, a shopper's first iterations include a checkout
    # the master calls on_test_stop once, with the merged result of both workers
    assert f"shop hooks: {placed} orders placed" in run.stdout
