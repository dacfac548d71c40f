from __future__ import annotations

import pytest

from yamlswarm.thresholds import ParsedThreshold, parse_threshold, passes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95 < 500ms", (None, "p95", "<", 500.0)),
        ("p95<500", (None, "p95", "<", 500.0)),
        ("p99 <= 1s", (None, "p99", "<=", 1000.0)),
        ("p99.9 < 1.5s", (None, "p99.9", "<", 1500.0)),
        ("p50 >= 0.5ms", (None, "p50", ">=", 0.5)),
        ("avg < 200", (None, "avg", "<", 200.0)),
        ("max != 3s", (None, "max", "!=", 3000.0)),
        ("error_rate < 1%", (None, "error_rate", "<", 0.01)),
        ("error_rate < 0.05", (None, "error_rate", "<", 0.05)),
        ("rps > 100", (None, "rps", ">", 100.0)),
        ("failures == 0", (None, "failures", "==", 0.0)),
        ("dropped == 0", (None, "dropped", "==", 0.0)),
        ("iterations >= 10", (None, "iterations", ">=", 10.0)),
        ("browse: p99 < 1s", ("browse", "p99", "<", 1000.0)),
        (
            "GET /api/v1/products/[id]: p95 < 300ms",
            ("GET /api/v1/products/[id]", "p95", "<", 300.0),
        ),
        ("  checkout :  error_rate <= 2 %  ", ("checkout", "error_rate", "<=", 0.02)),
    ],
)
def test_good_thresholds(text, expected):
    assert parse_threshold(text) == ParsedThreshold(*expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "p95 <",
            "cannot parse threshold 'p95 <': expected [ROW:] METRIC OP VALUE, e.g. 'p95 < 500ms'",
        ),
        ("", "cannot parse threshold '': expected [ROW:] METRIC OP VALUE"),
        ("p95 = 5", "cannot parse threshold 'p95 = 5'"),
        ("latency < 5", "cannot parse threshold 'latency < 5'"),
        ("p95 < -5", "cannot parse threshold 'p95 < -5'"),
        ("p95 < 5 minutes", "cannot parse threshold 'p95 < 5 minutes'"),
        ("rps < 5ms", "'ms' does not apply to rps"),
        ("requests > 5%", "'%' does not apply to requests"),
        ("error_rate < 5s", "'s' does not apply to error_rate"),
        ("p95 < 5%", "'%' does not apply to p95"),
        ("p150 < 5", "'p150' is not a percentile"),
    ],
)
def test_bad_thresholds(text, message):
    with pytest.raises(ValueError) as info:
        parse_threshold(text)
    assert str(info.value).startswith(message)


def test_non_string_is_a_parse_error():
    with pytest.raises(ValueError, match="cannot parse threshold 5"):
        parse_threshold(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "measured", "limit", "ok"),
    [
        ("<", 1, 2, True),
        ("<", 2, 2, False),
        ("<=", 2, 2, True),
        (">", 3, 2, True),
        (">=", 1, 2, False),
        ("==", 0, 0, True),
        ("!=", 0, 0, False),
    ],
)
def test_passes(op, measured, limit, ok):
    assert passes(op, measured, limit) is ok


@pytest.mark.parametrize(
    "text,expected",
    [
        ("failed.p95 < 2s", ParsedThreshold(None, "failed.p95", "<", 2000.0)),
        ("/x: failed.max <= 300ms", ParsedThreshold("/x", "failed.max", "<=", 300.0)),
        ("failed.avg < 1", ParsedThreshold(None, "failed.avg", "<", 1.0)),
    ],
)
def test_thresholds_on_the_latency_of_failed_requests(text, expected):
    assert parse_threshold(text) == expected


@pytest.mark.parametrize("text", ["failed.rps > 1", "failed.p101 < 1s", "failed.p95 < 1%"])
def test_bad_thresholds_on_failed_requests(text):
    with pytest.raises(ValueError):
        parse_threshold(text)
