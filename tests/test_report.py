"""Tests of yamlswarm.report: the final table, JSON, CSV and JUnit files."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import xml.etree.ElementTree as ET

import pytest

from yamlswarm.errors import UsageError
from yamlswarm.report import render, write_csv, write_json, write_junit
from yamlswarm.report.html import render_html
from yamlswarm.report.table import number, percent, threshold_value
from yamlswarm.result import RunResult, ThresholdResult
from yamlswarm.runtime.stats import Stats


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _result(**extra) -> RunResult:
    clock = FakeClock()
    stats = Stats(clock=clock)
    items = stats.row("/api/items", "GET")
    for us in range(1000, 2000):
        items.success(us / 1e6)
    cart = stats.row("/api/cart", "POST")
    cart.success(0.0123)
    cart.failure(1.53, "check failed: status 200", example="got 500")
    cart.failure(0.4, "HTTP 503")
    stats.register_check("/api/cart", "POST", "status 200")
    stats.register_check("/api/items", "GET", "jmespath length(products) > 0")
    for _ in range(7):
        stats.iteration_done()
    for t in (1, 2):
        clock.now = 100.0 + t
        stats.tick(users=3)
    thresholds = [
        ThresholdResult("p95 < 500ms", True, 1.95),
        ThresholdResult("error_rate < 1%", False, 0.002),
        ThresholdResult("browse: p99 < 1s", True, None),
    ]
    return stats.snapshot(
        scenario="shop", model={"kind": "closed"}, thresholds=thresholds, duration_s=2.0, **extra
    )


@pytest.mark.parametrize(
    "value,text",
    [
        (0, "0"),
        (0.412, "0.412"),
        (5.0, "5.00"),
        (12.34, "12.3"),
        (1530.2, "1530"),
        (123456.0, "123456"),
    ],
)
def test_numbers_keep_three_significant_digits(value, text):
    assert number(value) == text


def test_percent_and_threshold_values():
    assert (percent(0, 10), percent(1, 3), percent(1, 1_000_000), percent(5, 5)) == (
        "0%",
        "33.3%",
        "<0.01%",
        "100%",
    )
    assert threshold_value("p99.9 < 1s", 1530.0) == "1530 ms"
    assert threshold_value("error_rate < 1%", 0.0123) == "1.23%"
    assert threshold_value("GET /x: requests > 10", 12.0) == "12"
    assert threshold_value("rps > 100", 99.5) == "99.5"
    assert threshold_value("p95 < 5", None) == "no data"


def test_table_has_rows_aggregate_errors_thresholds_and_summary():
    text = render(_result(interrupted=True))
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:5] == ["Name", "Method", "Requests", "Failures", "RPS"]
    assert "p99.9" in header and header[-2:] == ["Max", "ms"]
    cart = next(line for line in lines if line.startswith("/api/cart"))
    assert cart.split()[:7] == ["/api/cart", "POST", "3", "2", "(66.7%)", "1.50", "12.3"]
    assert cart.split()[-1] == "12.3"  # the percentiles are those of the successes
    failed = text.split("Failed requests", 1)[1]
    assert "1530" in next(line for line in failed.splitlines() if line.startswith("/api/cart"))
    items = next(line for line in lines if line.startswith("/api/items"))
    assert items.split()[2:6] == ["1000", "0", "(0%)", "500"]
    aggregated = next(line for line in lines if line.startswith("Aggregated"))
    assert aggregated.split()[1:4] == ["1003", "2", "(0.199%)"]
    error_line = next(line for line in lines if "HTTP 503" in line)
    assert error_line.split()[:2] == ["POST", "/api/cart"]
    header = lines[lines.index(error_line) - 2].split()
    assert header == ["Row", "Error", "Count", "First", "Last", "Example"]
    row = dict(zip(header[2:5], error_line.split("HTTP 503", 1)[1].split()[:3], strict=True))
    assert row["Count"] == "1" and row["First"].endswith("s") and row["Last"].endswith("s")
    assert any("error_rate < 1%" in line and "FAIL" in line and "0.2%" in line for line in lines)
    assert any("browse: p99 < 1s" in line and "no data" in line for line in lines)
    assert lines[-1] == "Ran 2s, 7 iterations; interrupted"


def test_iterations_cut_short_by_the_stop_are_named_apart_in_the_table_and_the_html():
    result = dataclasses.replace(_result(), iterations_interrupted=3)
    assert render(result).splitlines()[-1] == "Ran 2s, 7 iterations (3 cut short by the stop)"
    html = render_html(result)
    assert ">Iterations</div>" in html and ">7 (+3 cut short)</div>" in html
    assert RunResult.from_dict(result.to_dict()).iterations_interrupted == 3


def test_table_without_errors_or_thresholds_and_with_service_time():
    stats = Stats(clock=FakeClock())
    stats.row("/o", "GET").success(0.050, service_s=0.020)
    stats.dropped = 4
    text = render(stats.snapshot(scenario="s", model={}, duration_s=1.0))
    assert "Error" not in text and "Threshold" not in text
    assert "Service time" in text
    assert text.splitlines()[-1] == "Ran 1s, 0 iterations, 4 dropped (max_users busy)"


def test_json_file(tmp_path):
    result = _result()
    path = tmp_path / "deep" / "dir" / "out.json"
    write_json(result, path)
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert RunResult.from_dict(data) == result


def test_csv_files(tmp_path):
    """Locust's file names and columns, yamlswarm's own columns after them (the whole shape
    is in tests/test_csv_locust.py; the history is written live, by the exports)."""
    result = _result()
    paths = write_csv(result, tmp_path / "out" / "run")
    assert [p.name for p in paths] == [
        "run_stats.csv",
        "run_failures.csv",
        "run_exceptions.csv",
        "run_transactions.csv",
    ]
    stats = list(csv.DictReader(paths[0].open()))
    assert [(r["Type"], r["Name"], r["Request Count"], r["Failure Count"]) for r in stats] == [
        ("POST", "/api/cart", "3", "2"),
        ("GET", "/api/items", "1000", "0"),
        ("", "Aggregated", "1003", "2"),
    ]
    assert stats[0]["Max ms"] == "12.3" and stats[0]["Failure %"] == "66.667"  # of successes
    assert stats[0]["Requests"] == "3" and stats[0]["Method"] == "POST"  # the former columns
    failures = list(csv.DictReader(paths[1].open()))
    assert sorted((f["Method"], f["Name"], f["Error"], f["Occurrences"]) for f in failures) == [
        ("POST", "/api/cart", "HTTP 503", "1"),
        ("POST", "/api/cart", "check failed: status 200", "1"),
    ]


def test_junit_file(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(_result(), path)
    root = ET.parse(path).getroot()
    (suite,) = root.iter("testsuite")
    assert suite.get("name") == "yamlswarm"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {
        "p95 < 500ms",
        "error_rate < 1%",
        "browse: p99 < 1s",
        "POST /api/cart: status 200",
        "GET /api/items: jmespath length(products) > 0",
    }
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {"error_rate < 1%", "POST /api/cart: status 200"}
    assert cases["error_rate < 1%"].find("failure").get("message") == "measured 0.2%"
    assert cases["POST /api/cart: status 200"].find("failure").get("message") == "failed 1 time"
    assert (suite.get("tests"), suite.get("failures")) == ("5", "2")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_path_is_a_usage_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UsageError, match=r"cannot write .*locked"):
            write_json(_result(), locked / "out.json")
        with pytest.raises(UsageError, match="cannot write"):
            write_csv(_result(), locked / "sub" / "run")
    finally:
        locked.chmod(0o700)


def test_a_directory_in_the_way_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        write_junit(_result(), blocker / "junit.xml")
    with pytest.raises(UsageError, match="cannot write"):
        write_json(_result(), tmp_path)  # a directory, not a file
