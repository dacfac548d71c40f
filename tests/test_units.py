import math

import pytest

from yamlswarm.units import MAX_DURATION, MAX_RATE, format_duration, parse_duration, parse_rate


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        (5, 5.0),
        ("2.5", 2.5),
        ("1h1m1s", 3661),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "5x", "m5", "1m 30", "-1", -2, True, None, [1], "30s5"])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    "text,rate", [("10/s", 10), ("600/m", 10), ("1/h", 1 / 3600), (4, 4.0), ("2.5", 2.5)]
)
def test_rates(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["10/x", "fast", "/s", -1, True])
def test_bad_rates(bad):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


def test_format_duration():
    assert format_duration(90) == "1m30s"
    assert format_duration(0.25) == "250ms"
    assert format_duration(3600) == "1h"


NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NON_FINITE)
def test_non_finite_durations_and_rates_are_refused(bad):
    with pytest.raises(ValueError, match=r"not a finite number|negative"):
        parse_duration(bad)
    with pytest.raises(ValueError, match=r"not a finite number|negative"):
        parse_rate(bad)


def test_absurdly_large_values_are_refused():
    with pytest.raises(ValueError, match=r"too large \(at most 366 days\)"):
        parse_duration(MAX_DURATION + 1)
    with pytest.raises(ValueError, match="too large"):
        parse_duration("9000000h")
    with pytest.raises(ValueError, match="too large"):
        parse_duration(10**400)  # an int too large for a float
    with pytest.raises(ValueError, match="too large"):
        parse_rate(f"{MAX_RATE * 2:.0f}/s")
    assert parse_duration(MAX_DURATION) == MAX_DURATION


def test_zero_is_a_plain_zero():
    assert parse_duration("-0") == 0.0 and math.copysign(1, parse_duration(-0.0)) == 1
    assert parse_rate(0) == 0.0
