"""The compiler on steps: requests (checks, extraction, bodies) and every other step kind."""

from __future__ import annotations

from tests.compile_helpers import steps_of
from tests.compile_helpers import write_file as _hook
from yamlswarm import plan as p
from yamlswarm.kinds.call import CallStep
from yamlswarm.kinds.log import LogStep
from yamlswarm.kinds.set_ import SetStep
from yamlswarm.kinds.think import ThinkStep
from yamlswarm.templates import Template

# ---------------------------------------------------------------- requests


def test_request_shorthand_with_defaults_merged(tmp_path):
    (step,) = steps_of(
        tmp_path,
        """
        - post: /api/v1/cart
          headers: {content-type: text/plain, X-Trace: "1"}
          query: {page: 2, tags: [a, b]}
          json: {product_id: 7, qty: 2}
          auth: {basic: [alice, secret]}
          follow_redirects: false
    """,
        head="""
defaults:
  headers: {Accept: application/json, Content-Type: application/json}
  timeout: 2s
  verify_tls: false
""",
    )
    assert isinstance(step, p.RequestStep)
    assert (step.method, step.url, step.name) == ("POST", "/api/v1/cart", "/api/v1/cart")
    assert step.headers == (
        ("Accept", "application/json"),
        ("content-type", "text/plain"),
        ("X-Trace", "1"),
    )
    assert step.query == (("page", 2), ("tags", ["a", "b"]))
    assert step.body == p.Body("json", {"product_id": 7, "qty": 2})
    assert step.auth == ("alice", "secret")
    assert (step.timeout, step.follow_redirects, step.verify_tls) == (2.0, False, False)


def test_request_long_form_and_body_kinds(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    steps = steps_of(
        tmp_path,
        """
        - request: {method: put, url: /x, body: raw text, timeout: 500ms, name: the x}
        - patch: /f
          form: {a: "1"}
        - post: /upload
          files: {logo: logo.png, doc: {path: logo.png, content_type: image/png}}
        - delete: /d
    """,
    )
    assert [s.method for s in steps] == ["PUT", "PATCH", "POST", "DELETE"]
    assert steps[0].body == p.Body("body", "raw text")
    assert (steps[0].timeout, steps[0].name) == (0.5, "the x")
    assert steps[1].body == p.Body("form", {"a": "1"})
    files = steps[2].body.value
    assert files["logo"] == {"path": str(tmp_path / "logo.png"), "filename": "logo.png"}
    assert files["doc"]["content_type"] == "image/png"
    assert steps[3].body is None and steps[3].timeout == 30.0


def test_checks_and_extraction(tmp_path):
    (step,) = steps_of(
        tmp_path,
        """
        - get: /api/v1/products
          check:
            status: [200, "3xx"]
            jmespath:
              - {expr: "length(products)", gt: 0}
              - {expr: "products[0].name", matches: "^[A-Z]"}
              - {expr: "products[0].id", exists: true}
            body_contains: products
            body_matches: '"id":\\s*\\d+'
            header:
              Content-Type: {contains: json}
              X-Id: {matches: "^[0-9]+$"}
              Server: demo
            max_latency: 250ms
          extract:
            pid: {jmespath: "products[0].id"}
            word: {regex: 'name": "(\\w+)"', default: none}
            ctype: {header: Content-Type}
            sid: {cookie: session}
            code: {status: true, default: null}
    """,
    )
    checks = step.checks
    assert checks.status.codes == {200} and checks.status.classes == {3}
    assert [(c.expr, c.op, c.value) for c in checks.jmespath] == [
        ("length(products)", "gt", 0),
        ("products[0].name", "matches", "^[A-Z]"),
        ("products[0].id", "exists", True),
    ]
    assert checks.body_contains == "products" and checks.body_matches == '"id":\\s*\\d+'
    assert [(h.name, h.op, h.value) for h in checks.headers] == [
        ("Content-Type", "contains", "json"),
        ("X-Id", "matches", "^[0-9]+$"),
        ("Server", "eq", "demo"),
    ]
    assert checks.max_latency == 0.25
    got = [(e.var, e.kind, e.expr, e.group, e.default, e.has_default) for e in step.extract]
    assert got == [
        ("pid", "jmespath", "products[0].id", 1, None, False),
        ("word", "regex", 'name": "(\\w+)"', 1, "none", True),
        ("ctype", "header", "Content-Type", 1, None, False),
        ("sid", "cookie", "session", 1, None, False),
        ("code", "status", "", 1, None, True),
    ]


def test_status_class_alone(tmp_path):
    (step,) = steps_of(tmp_path, "- get: /\n  check: {status: 2xx}\n")
    assert step.checks.status.accepts(204) and not step.checks.status.accepts(301)


# ---------------------------------------------------------------- other step kinds


def test_every_other_step_kind(tmp_path):
    _hook(tmp_path, "def fn(user):\n    pass\n")
    steps = steps_of(
        tmp_path,
        """
        - think: 1.5
        - think: {between: [1s, 2s]}
        - loop: {count: 3, as: n, steps: [{log: "n={{ n }}"}]}
        - loop: {over: "{{ ids }}", max: 5, steps: [{get: "/p/{{ item }}"}]}
        - loop: {while: "{{ more }}", steps: [{set: {more: false}}]}
        - if: "{{ more }}"
          then: [{call: fn}]
          else: [{think: 1}]
        - group: {name: checkout, steps: [{get: /a}, {get: /b}]}
        - set: {ids: [1, 2], label: "x-{{ n }}"}
        - log: plain text
    """,
        head="hooks: hooks.py\n",
    )
    think, between, count, over, while_, cond, group, set_, log = steps
    assert think.wait == p.Wait("constant", 1.5, source=think.wait.source)
    assert (between.wait.kind, between.wait.low, between.wait.high) == ("between", 1.0, 2.0)
    assert (count.count, count.as_, count.max) == (3, "n", None)
    assert isinstance(count.steps[0], LogStep) and isinstance(count.steps[0].message, Template)
    assert isinstance(over.over, Template) and over.max == 5 and over.as_ == "item"
    assert isinstance(while_.while_, Template) and isinstance(while_.steps[0], SetStep)
    assert isinstance(cond.condition, Template)
    assert cond.then == (CallStep("fn", cond.then[0].source),)
    assert isinstance(cond.else_[0], ThinkStep)
    assert group.name == "checkout" and [s.url for s in group.steps] == ["/a", "/b"]
    assert set_.assignments[0] == ("ids", [1, 2])
    assert isinstance(set_.assignments[1][1], Template)
    assert log.message == "plain text"
