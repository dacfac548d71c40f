"""Hostile responses against checks and extraction: regexes run in bounded time, deep JSON is refused.

Units of yamlswarm.runtime.bounded, the checkers and the extractors; the same cases through the
CLI against a real server are in tests/test_hostile_matching_cli.py.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yamlswarm import plan
from yamlswarm.runtime import bounded
from yamlswarm.runtime.bounded import (
    JSON_MAX_DEPTH,
    JSON_TOO_DEEP,
    REGEX_TIMED_OUT,
    JsonTooDeep,
    RegexTimeout,
    compile_regex,
    json_depth_exceeds,
    response_json,
    search,
)
from yamlswarm.runtime.checks import build_checker
from yamlswarm.runtime.extract import build_extractor
from yamlswarm.runtime.http.response import Headers, Response

# exponential backtracking for a backtracking engine (`re` would not finish this in years)
EVIL = "^(a|a)+$"
EVIL_BODY = b"a" * 41 + b"b"
DEEP_BODY = b"[" * 200_000 + b"]" * 200_000
BOUND = 2.0  # seconds a timed-out search may take on a busy shared machine (limit: 0.1)


def _response(body=b"", headers=None):
    return Response("GET", "http://127.0.0.1/x", 200, Headers(headers or []), body, 0.01)


def _timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


# ---------------------------------------------------------------- the bounded search


def test_the_error_texts_name_the_limits():
    assert REGEX_TIMED_OUT == "regex timed out after 100ms"
    assert JSON_TOO_DEEP == "response JSON nested deeper than 256 levels"
    assert str(RegexTimeout()) == REGEX_TIMED_OUT and str(JsonTooDeep()) == JSON_TOO_DEEP


def test_a_catastrophic_search_times_out_within_the_bound():
    pattern = compile_regex(EVIL)
    start = time.perf_counter()
    with pytest.raises(RegexTimeout, match="timed out after 100ms"):
        search(pattern, EVIL_BODY.decode())
    assert time.perf_counter() - start < BOUND


def test_search_compiles_rendered_values_and_finds_ordinary_matches():
    assert search(compile_regex(r"id=(\d+)"), "x id=42").group(1) == "42"
    assert search("b+", "abbb").group() == "bbb"
    assert search(7, "a7") is not None  # a rendered template may give a number
    assert search("^z", "abc") is None


def test_the_engine_keeps_re_syntax_and_adds_unicode_properties():
    assert search(compile_regex(r"(?P<q>['\"]).*?(?P=q)"), "say 'hi' now").group() == "'hi'"
    assert search(compile_regex(r"(?<=id=)\d+"), "id=7").group() == "7"
    assert search(compile_regex(r"\p{Lu}\p{Ll}+"), "a Zoë").group() == "Zoë"
    with pytest.raises(bounded.RegexError):
        compile_regex("a(")


# ---------------------------------------------------------------- checks


def test_body_matches_timeout_is_a_named_failure():
    checker = build_checker(plan.Checks(body_matches=EVIL))
    failure, took = _timed(lambda: checker.failure(_response(EVIL_BODY), {}))
    assert failure == (f"check failed: body_matches '{EVIL}' (regex timed out after 100ms)", None)
    assert took < BOUND
    assert checker(_response(b"aaaa"), {}) is None  # the same pattern still matches normally


def test_jmespath_matches_timeout_is_a_named_failure():
    checks = plan.Checks(jmespath=(plan.JmesCheck("name", "matches", EVIL),))
    body = json.dumps({"name": EVIL_BODY.decode()}).encode()
    name = build_checker(checks)(_response(body), {})
    assert name == f"check failed: jmespath name matches '{EVIL}' (regex timed out after 100ms)"
    assert build_checker(checks)(_response(b'{"name": "aaa"}'), {}) is None


def test_header_matches_timeout_is_a_named_failure():
    checks = plan.Checks(headers=(plan.HeaderCheck("X-Evil", "matches", EVIL),))
    checker = build_checker(checks)
    name = checker(_response(b"", [("X-Evil", EVIL_BODY.decode())]), {})
    assert name == f"check failed: header X-Evil matches {EVIL} (regex timed out after 100ms)"
    assert checker(_response(b"", [("X-Evil", "aa")]), {}) is None


def test_jmespath_check_on_deep_json_is_a_named_failure_not_a_recursion_error():
    checks = plan.Checks(jmespath=(plan.JmesCheck("length(@)", "gt", 0),))
    checker = build_checker(checks)
    assert checker.failure(_response(DEEP_BODY), {}) == (
        "check failed: jmespath length(@) (response JSON nested deeper than 256 levels)",
        None,
    )
    nested = b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH  # at the limit: fine
    assert checker(_response(nested), {}) is None


# ---------------------------------------------------------------- extraction


def test_regex_extraction_timeout_is_a_named_error_and_unsets_the_variable():
    extractor = build_extractor((plan.Extract("v", "regex", EVIL, 0),))
    assert extractor is not None
    variables = {"v": "stale"}
    errors, took = _timed(lambda: extractor(_response(EVIL_BODY), variables))
    assert errors == [f"extract v: regex '{EVIL}' (regex timed out after 100ms)"]
    assert "v" not in variables and took < BOUND


def test_regex_extraction_timeout_falls_back_to_the_default():
    extract = plan.Extract("v", "regex", EVIL, 0, default="none", has_default=True)
    extractor = build_extractor((extract,))
    assert extractor is not None
    variables: dict = {}
    assert extractor(_response(EVIL_BODY), variables) == [] and variables == {"v": "none"}


def test_jmespath_extraction_of_deep_json_is_a_named_error():
    extractor = build_extractor((plan.Extract("v", "jmespath", "[0]"),))
    assert extractor is not None
    variables: dict = {}
    assert extractor(_response(DEEP_BODY), variables) == [
        "extract v: jmespath [0] (response JSON nested deeper than 256 levels)"
    ]
    assert variables == {}
    assert extractor(_response(b"[[1]]"), variables) == [] and variables == {"v": [1]}


# ---------------------------------------------------------------- the depth scan


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet='[]{}"\\ab\n', max_size=6)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=30,
)


@given(_JSON, st.integers(min_value=0, max_value=6))
def test_depth_scan_agrees_with_the_parsed_depth(value, limit):
    body = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth_exceeds(body, limit) is (_depth(value) > limit)


def test_depth_scan_cases():
    assert not json_depth_exceeds(b"[]" * 10_000)  # many brackets, shallow
    assert not json_depth_exceeds(b'["' + b"[" * 1000 + b'"]')  # brackets inside a string
    assert json_depth_exceeds(b'["\\\\", ' + b"[" * 300 + b"]" * 300 + b"]")  # escaped backslash
    assert not json_depth_exceeds(b'["\\"' + b"[" * 300 + b'"]')  # escaped quote
    assert json_depth_exceeds(b'{"a":' * 300 + b"1" + b"}" * 300)
    assert json_depth_exceeds(b"[" * 200_000)  # unterminated too


def test_depth_scan_of_a_hostile_body_is_fast():
    _, took = _timed(lambda: json_depth_exceeds(b"[" * 200_000))
    assert took < 0.5


def test_a_recursion_error_the_scan_missed_is_still_too_deep(monkeypatch):
    monkeypatch.setattr(bounded, "json_depth_exceeds", lambda body, limit: False)
    with pytest.raises(JsonTooDeep):
        response_json(_response(b"[" * 100_000 + b"]" * 100_000))


def test_response_json_parses_ordinary_bodies_and_keeps_value_errors():
    assert response_json(_response(b'{"a": [1, 2]}')) == {"a": [1, 2]}
    with pytest.raises(ValueError):
        response_json(_response(b"<html>"))
