from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from yamlswarm import plan as p
from yamlswarm.compiler import compile_document
from yamlswarm.extractors import EXTRACTORS
from yamlswarm.kinds import KINDS, walk
from yamlswarm.kinds.loop import LoopStep
from yamlswarm.scenario.loader import load_file

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
EXAMPLES = [f for f in FILES if f.name != "demo.yaml"]  # demo.yaml belongs to the demo


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_every_scenario_compiles(file):
    plan = compile_document(load_file(file), env={}, render_variables=True)
    assert plan.users
    assert plan.host is None or "{{" not in plan.host


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.name)
def test_every_scenario_validates_without_rendering(file):
    compile_document(load_file(file), render_variables=False)


def test_examples_together_use_every_feature():
    plans = [compile_document(load_file(f), env={}) for f in EXAMPLES]
    users = [u for plan in plans for u in plan.users]
    steps = [
        s
        for u in users
        for block in (u.on_start, u.on_stop, *(f.steps for f in u.flows))
        for s in walk(block)
    ]
    requests = [s for s in steps if isinstance(s, p.RequestStep)]
    assert {type(s) for s in steps} == {kind.plan_type for kind in KINDS}
    assert {r.method for r in requests} >= {"GET", "POST", "PUT", "HEAD", "OPTIONS"}
    assert {r.body.kind for r in requests if r.body} >= {"json", "form"}
    assert any(r.query for r in requests) and any(r.auth for r in requests)
    assert {e.kind for r in requests for e in r.extract} == {e.name for e in EXTRACTORS}
    assert any(e.has_default for r in requests for e in r.extract)
    checks = [r.checks for r in requests]
    assert any(c.status and c.status.classes for c in checks)
    assert any(c.body_contains for c in checks) and any(c.body_matches for c in checks)
    assert any(c.headers for c in checks) and any(c.max_latency for c in checks)
    assert {j.op for c in checks for j in c.jmespath} >= {"gt", "ge", "eq", "exists"}
    loops = [s for s in steps if isinstance(s, LoopStep)]
    assert any(s.count is not None for s in loops) and any(s.over is not None for s in loops)
    assert any(s.while_ is not None for s in loops)
    assert {u.wait.kind for u in users if u.wait} == {"between", "constant", "pacing", "throughput"}
    assert any(u.count is not None for u in users) and any(u.on_stop for u in users)
    assert {plan.load.kind for plan in plans} == {"closed", "stages", "open", "iterations"}
    assert any(plan.iterations_cap for plan in plans)
    feeds = [feed for plan in plans for feed in plan.data]
    assert {feed.order for feed in feeds} >= {"unique", "random"}
    assert {feed.per for feed in feeds} == {"user", "iteration"}
    thresholds = [t for plan in plans for t in plan.thresholds]
    assert any(t.row for t in thresholds) and any(t.abort for t in thresholds)
    assert any(plan.hooks for plan in plans) and any(plan.variables for plan in plans)


def test_shop_hooks_sign_requests_and_record_orders():
    plan = compile_document(load_file(SCENARIOS / "shop.yaml"), env={})
    from yamlswarm.hookmodules import load_hooks

    hooks = load_hooks(plan.hooks)
    assert hooks.template_functions["sku"](7) == "SKU-00007"

    request = SimpleNamespace(
        method="POST", url="http://127.0.0.1:8080/api/v1/cart", body=b"{}", headers={}
    )
    hooks.before_request[0](request, None)
    assert len(request.headers["X-Signature"]) == 64

    hooks.function("record_order")(SimpleNamespace(vars={"order_id": "o-1"}))
    with pytest.raises(ValueError, match="no order_id"):
        hooks.function("record_order")(SimpleNamespace(vars={}))
