"""Checks compiled by yamlswarm.runtime.checks against hand-built responses."""

from __future__ import annotations

import json

import pytest

from yamlswarm import plan
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.http.response import Headers, Response
from yamlswarm.templates import compile_value


def _response(status=200, body=b"", headers=None, elapsed=0.01, error=None):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return Response(
        "GET", "http://127.0.0.1/x", status, Headers(headers or []), body, elapsed, error
    )


def _jmes(expr, op, value):
    return plan.Checks(
        status=plan.StatusCheck(frozenset({200})),
        jmespath=(plan.JmesCheck(expr, op, compile_value(value)),),
    )


def test_default_status_passes_below_400_and_names_the_code():
    checker = build_checker(plan.Checks())
    assert checker(_response(200), {}) is None
    assert checker(_response(302), {}) is None
    assert checker(_response(404), {}) == "HTTP 404"
    assert checker(_response(500, b"boom"), {}) == "HTTP 500"
    assert checker.failure(_response(500, b"boom"), {}) == ("HTTP 500", "boom")
    assert checker.descriptions == ()


def test_transport_error_is_reported_as_the_error_name():
    checker = build_checker(plan.Checks(status=plan.StatusCheck(frozenset({200}))))
    assert checker(_response(0, error="ConnectionRefused"), {}) == "ConnectionRefused"


def test_status_codes_and_classes():
    checker = build_checker(plan.Checks(status=plan.StatusCheck(frozenset({201}), frozenset({2}))))
    assert checker.descriptions == ("status 201 or 2xx",)
    assert checker(_response(204), {}) is None
    assert checker(_response(201), {}) is None
    assert checker(_response(404), {}) == "check failed: status 201 or 2xx"
    # a declared status check replaces the default: 500 may be expected
    assert (
        build_checker(plan.Checks(status=plan.StatusCheck(frozenset({500}))))(_response(500), {})
        is None
    )


def test_failure_name_is_stable_and_detail_has_the_actual_value():
    checker = build_checker(plan.Checks(status=plan.StatusCheck(frozenset({200}))))
    names = {checker(_response(code), {}) for code in (301, 404, 500, 503)}
    assert names == {"check failed: status 200"}
    assert checker.failure(_response(503), {}) == ("check failed: status 200", "503")


@pytest.mark.parametrize(
    "expr,op,value,body,passes",
    [
        ("length(products)", "gt", 0, {"products": [1, 2]}, True),
        ("length(products)", "gt", 0, {"products": []}, False),
        ("a", "eq", 1, {"a": 1}, True),
        ("a", "eq", 1, {"a": 1.0}, True),
        ("a", "eq", 1, {"a": True}, False),
        ("a", "eq", True, {"a": 1}, False),
        ("a", "ne", "x", {"a": "y"}, True),
        ("a", "ne", "x", {"a": "x"}, False),
        ("a", "ge", 2, {"a": 2}, True),
        ("a", "lt", 2, {"a": 2}, False),
        ("a", "le", "b", {"a": "a"}, True),
        ("a", "gt", 1, {"a": "10"}, False),  # str vs number: fails, never raises
        ("a", "gt", 1, {"b": 5}, False),  # None vs number
        ("a", "lt", 5, {"a": True}, False),  # bools are not numbers here
        ("a", "in", ["x", "y"], {"a": "y"}, True),
        ("a", "in", ["x", "y"], {"a": "z"}, False),
        ("a", "in", 5, {"a": 5}, False),  # not a container
        ("a", "in", ["x"], {"a": {"k": 1}}, False),  # unhashable in list is fine, just false
        ("tags", "contains", "new", {"tags": ["new", "hot"]}, True),
        ("tags", "contains", "old", {"tags": ["new"]}, False),
        ("name", "contains", "ell", {"name": "hello"}, True),
        ("name", "contains", 5, {"name": "hello"}, False),  # TypeError -> fail
        ("name", "contains", "x", {}, False),  # None result
        ("id", "matches", "^[0-9a-f]{4}$", {"id": "beef"}, True),
        ("id", "matches", "^[0-9a-f]{4}$", {"id": "nope"}, False),
        ("n", "matches", "^42$", {"n": 42}, True),
        ("ok", "matches", "^true$", {"ok": True}, True),
        ("n", "matches", "None", {}, False),  # a missing value never matches
        ("token", "exists", True, {"token": "t"}, True),
        ("token", "exists", True, {"token": None}, False),
        ("token", "exists", False, {}, True),
        ("token", "exists", False, {"token": 0}, False),
    ],
)
def test_jmespath_ops(expr, op, value, body, passes):
    checker = build_checker(_jmes(expr, op, value))
    result = checker(_response(200, body), {})
    if passes:
        assert result is None
    else:
        assert result is not None and result.startswith(f"check failed: jmespath {expr} {op} ")


def test_jmespath_names():
    checker = build_checker(_jmes("length(products)", "gt", 0))
    assert checker.descriptions == ("status 200", "jmespath length(products) gt 0")
    assert checker(_response(200, {"products": []}), {}) == (
        "check failed: jmespath length(products) gt 0"
    )
    assert checker.failure(_response(200, {"products": []}), {})[1] == "0"
    assert build_checker(_jmes("state", "eq", "ok")).descriptions[1] == "jmespath state eq 'ok'"


def test_jmespath_on_a_body_that_is_not_json():
    checker = build_checker(_jmes("a", "eq", 1))
    assert checker(_response(200, b"<html>"), {}) == "check failed: jmespath a (body is not JSON)"


def test_jmespath_function_type_error_fails_without_raising():
    checker = build_checker(_jmes("length(a)", "gt", 0))
    assert checker(_response(200, {"a": 5}), {}) == (
        "check failed: jmespath length(a) gt 0 (invalid type)"
    )


def test_jmespath_value_template_is_rendered_per_call():
    checker = build_checker(_jmes("id", "eq", "{{ expected }}"))
    assert checker.descriptions[1] == "jmespath id eq '{{ expected }}'"
    assert checker(_response(200, {"id": 7}), {"expected": 7}) is None
    assert checker(_response(200, {"id": 7}), {"expected": 8}) is not None
    failed = checker(_response(200, {"id": 7}), {})
    assert failed.startswith("check failed: jmespath id eq '{{ expected }}' (template error:")


def test_body_contains_and_matches():
    checks = plan.Checks(body_contains="ok", body_matches=r"^\{")
    checker = build_checker(checks)
    assert checker.descriptions == ("body_contains 'ok'", r"body_matches '^\{'")
    assert checker(_response(200, b'{"state": "ok"}'), {}) is None
    assert checker(_response(200, b'{"state": "ko"}'), {}) == "check failed: body_contains 'ok'"
    assert checker(_response(200, b'["ok"]'), {}) == r"check failed: body_matches '^\{'"


def test_body_contains_template():
    checker = build_checker(plan.Checks(body_contains=compile_value("user {{ name }}")))
    assert checker(_response(200, b"hello user ann!"), {"name": "ann"}) is None
    assert checker(_response(200, b"hello user bob!"), {"name": "ann"}) == (
        "check failed: body_contains 'user {{ name }}'"
    )


def test_body_contains_non_ascii():
    checker = build_checker(plan.Checks(body_contains="größe"))
    assert checker(_response(200, "die größe".encode()), {}) is None


def test_headers():
    checks = plan.Checks(
        headers=(
            plan.HeaderCheck("Content-Type", "contains", "json"),
            plan.HeaderCheck("X-Version", "eq", "2"),
            plan.HeaderCheck("ETag", "matches", '^"[0-9a-f]+"$'),
        )
    )
    checker = build_checker(checks)
    assert checker.descriptions == (
        "header Content-Type contains json",
        "header X-Version eq 2",
        'header ETag matches ^"[0-9a-f]+"$',
    )
    good = [("content-type", "application/json"), ("x-version", "2"), ("ETag", '"ab12"')]
    assert checker(_response(200, headers=good), {}) is None
    html = [("Content-Type", "text/html"), *good[1:]]
    assert checker(_response(200, headers=html), {}) == (
        "check failed: header Content-Type contains json"
    )
    assert checker.failure(_response(200, headers=html), {})[1] == "text/html"
    missing = good[:2]
    assert checker(_response(200, headers=missing), {}) == (
        'check failed: header ETag matches ^"[0-9a-f]+"$'
    )
    wrong = [good[0], ("X-Version", "3"), good[2]]
    assert checker(_response(200, headers=wrong), {}) == "check failed: header X-Version eq 2"


def test_max_latency():
    checker = build_checker(plan.Checks(max_latency=0.5))
    assert checker.descriptions == ("max_latency 500ms",)
    assert checker(_response(200, elapsed=0.5), {}) is None
    assert checker(_response(200, elapsed=0.51), {}) == "check failed: max_latency 500ms"
    assert checker.failure(_response(200, elapsed=0.75), {})[1] == "750ms"
    assert build_checker(plan.Checks(max_latency=1.5)).descriptions == ("max_latency 1500ms",)


def test_first_failure_in_fixed_order_and_default_status_still_applies():
    checks = plan.Checks(body_contains="ok", max_latency=0.1)
    checker = build_checker(checks)
    assert checker(_response(500, b"ok", elapsed=0.5), {}) == "HTTP 500"
    assert checker(_response(200, b"no", elapsed=0.5), {}) == "check failed: body_contains 'ok'"
    assert checker(_response(200, b"ok", elapsed=0.5), {}) == "check failed: max_latency 100ms"


def test_building_blocks_import_neither_gevent_nor_faker():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import yamlswarm.runtime.checks, yamlswarm.runtime.extract\n"
        "import yamlswarm.runtime.data, yamlswarm.runtime.fake\n"
        "print(sorted(m for m in ('gevent', 'faker') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
