import pytest

from yamlswarm.units import format_duration, parse_duration, parse_rate


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
