"""Extraction compiled by yamlswarm.runtime.extract, and its fast JMESPath path."""

from __future__ import annotations

import json

import jmespath
import pytest
from jmespath.exceptions import JMESPathError, ParseError

from yamlswarm import plan
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.response import Headers, Response
from yamlswarm.runtime.jmes import compile_jmespath
from yamlswarm.templates import compile_value

PRODUCTS = {"products": [{"id": 7, "name": "lamp"}, {"id": 9, "name": "desk"}], "total": 0}


def _response(body=b"", headers=None, cookies=None, status=200):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return Response(
        "GET", "http://127.0.0.1/x", status, Headers(headers or []), body, 0.01, cookies=cookies
    )


def _extract(var, kind, expr="", **kwargs):
    return plan.Extract(var, kind, expr, **kwargs)


def test_no_extracts_builds_nothing():
    assert build_extractor(()) is None


def test_jmespath_extracts_values_including_falsy_ones():
    extractor = build_extractor(
        (
            _extract("product_id", "jmespath", "products[0].id"),
            _extract("total", "jmespath", "total"),
        )
    )
    variables = {}
    assert extractor(_response(PRODUCTS), variables) == []
    assert variables == {"product_id": 7, "total": 0}


def test_jmespath_matched_nothing_is_named_and_unsets_a_stale_value():
    extractor = build_extractor((_extract("product_id", "jmespath", "products[5].id"),))
    variables = {"product_id": 3, "other": 1}
    assert extractor(_response(PRODUCTS), variables) == [
        "extract product_id: jmespath products[5].id matched nothing"
    ]
    assert variables == {"other": 1}


def test_jmespath_on_a_body_that_is_not_json():
    extractor = build_extractor((_extract("x", "jmespath", "a"),))
    variables = {}
    assert extractor(_response(b"<html>"), variables) == [
        "extract x: jmespath a (body is not JSON)"
    ]
    assert variables == {}


def test_jmespath_type_error_is_an_error_not_an_exception():
    extractor = build_extractor((_extract("n", "jmespath", "length(total)"),))
    assert extractor(_response(PRODUCTS), {}) == [
        "extract n: jmespath length(total) failed (JMESPathTypeError)"
    ]


def test_regex_groups():
    body = b"<a href='/next?tok=abc123&x=1'>"
    extractor = build_extractor(
        (
            _extract("token", "regex", r"tok=(\w+)"),
            _extract("whole", "regex", r"tok=\w+", group=0),
            _extract("x", "regex", r"x=(\d)"),
        )
    )
    variables = {}
    assert extractor(_response(body), variables) == []
    assert variables == {"token": "abc123", "whole": "tok=abc123", "x": "1"}


def test_regex_no_match_and_group_that_did_not_take_part():
    extractor = build_extractor(
        (_extract("token", "regex", r"tok=(\w+)"), _extract("b", "regex", r"(a)|(b)", group=2))
    )
    assert extractor(_response(b"a"), {}) == [
        r"extract token: regex 'tok=(\w+)' no match",
        "extract b: regex '(a)|(b)' no match",
    ]


def test_regex_group_out_of_range_is_refused_at_build():
    with pytest.raises(ValueError, match="has 1 group"):
        build_extractor((_extract("t", "regex", r"(a)", group=2),))


def test_header_cookie_status():
    extractor = build_extractor(
        (
            _extract("rid", "header", "X-Request-Id"),
            _extract("sid", "cookie", "sid"),
            _extract("code", "status"),
        )
    )
    variables = {}
    response = _response(b"", [("x-request-id", "r-1")], {"sid": "s-9"}, status=201)
    assert extractor(response, variables) == []
    assert variables == {"rid": "r-1", "sid": "s-9", "code": 201}
    variables = {"rid": "old", "sid": "old"}
    assert extractor(_response(b""), variables) == [
        "extract rid: header X-Request-Id missing",
        "extract sid: cookie sid missing",
    ]
    assert variables == {"code": 200}


def test_default_is_stored_and_is_not_an_error():
    extractor = build_extractor(
        (
            _extract("a", "jmespath", "missing", default=None, has_default=True),
            _extract("b", "header", "X-Nope", default="fallback", has_default=True),
            _extract(
                "c", "regex", "zzz(z)", default=compile_value("{{ base }}-c"), has_default=True
            ),
        )
    )
    variables = {"base": "v"}
    assert extractor(_response(PRODUCTS), variables) == []
    assert variables == {"base": "v", "a": None, "b": "fallback", "c": "v-c"}


def test_default_template_that_fails_is_an_error():
    extractor = build_extractor(
        (_extract("c", "header", "X-Nope", default=compile_value("{{ nope }}"), has_default=True),)
    )
    variables = {"c": "stale"}
    errors = extractor(_response(b""), variables)
    assert errors == ["extract c: default (template error: 'nope' is undefined)"]
    assert variables == {}


# ---------------------------------------------------------------- fast JMESPath == jmespath

DOCUMENTS = [
    PRODUCTS,
    {"a": {"b": {"c": [1, 2, {"d": "x"}]}}, "s": "héllo", "n": None, "e": [], "o": {}},
    [1, 2, 3],
    "text",
    None,
    {"a": [[1, 2], [3]], "b": True, "products": "not a list"},
]
EXPRESSIONS = [
    "products",
    "products[0]",
    "products[0].id",
    "products[-1].name",
    "products[5].id",
    "a.b.c",
    "a.b.c[2].d",
    "a.b.c[0].d",
    "a[0][1]",
    "s",
    "n",
    "n.x",
    "e[0]",
    "missing.deeper",
    "length(products)",
    "length(s)",
    "length(o)",
    "length(e)",
    "length(a.b.c)",
    "length(n)",
    "length(b)",
    "[0]",
    '"quoted key"',
    "products[*].id",
    "a.b.c[?d == 'x'].d",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_fast_jmespath_agrees_with_jmespath(expr):
    search = compile_jmespath(expr)
    for document in DOCUMENTS:
        try:
            expected = ("ok", jmespath.search(expr, document))
        except JMESPathError as exc:
            expected = ("error", type(exc))
        try:
            actual = ("ok", search(document))
        except JMESPathError as exc:
            actual = ("error", type(exc))
        assert actual == expected, (expr, document)


def test_fast_jmespath_is_used_for_simple_paths():
    # the fast functions are plain closures, not the jmespath ParsedResult.search method
    assert not hasattr(compile_jmespath("a.b[0].c"), "__self__")
    assert hasattr(compile_jmespath("a[*].b"), "__self__")


def test_bad_expression_raises_parse_error():
    with pytest.raises(ParseError):
        compile_jmespath("a[")
