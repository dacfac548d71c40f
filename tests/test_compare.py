"""Tests of yamlswarm.report.compare: row deltas, regressions, loading results, `yamlswarm report`."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from tests.cli_helpers import yamlswarm
from yamlswarm.errors import UsageError
from yamlswarm.report.compare import (
    compare,
    load_result,
    regressions,
    render_comparison,
    report_command,
)
from yamlswarm.result import Latency, RowResult, RunResult, Totals


def _lat(p50: float, p95: float, p99: float) -> Latency:
    return Latency(min=1.0, mean=p50, p50=p50, p90=p95, p95=p95, p99=p99, p99_9=p99, max=p99 * 2)


def _run(rows: list[RowResult], started: str = "2025-03-14T09:00:00.000Z") -> RunResult:
    requests = sum(r.requests for r in rows)
    failures = sum(r.failures for r in rows)
    rps = sum(r.rps for r in rows)
    p95 = max((r.latency_ms.p95 for r in rows), default=0.0)
    totals = Totals(requests, failures, rps, _lat(p95 / 2, p95, p95 * 1.5))
    return RunResult("0.1.0", "shop", started, 60.0, {"kind": "closed"}, 10, 0, totals, rows)


def _base() -> RunResult:
    return _run(
        [
            RowResult("/items", "GET", 6000, 6, 100.0, _lat(10.0, 20.0, 40.0)),
            RowResult("/cart", "POST", 1200, 0, 20.0, _lat(30.0, 60.0, 90.0)),
            RowResult("/old", "GET", 60, 0, 1.0, _lat(5.0, 6.0, 7.0)),
        ]
    )


def _new() -> RunResult:
    return _run(
        [
            RowResult("/items", "GET", 5400, 54, 90.0, _lat(10.5, 24.7, 41.0)),
            RowResult("/cart", "POST", 1200, 0, 20.0, _lat(29.0, 60.0, 90.0)),
            RowResult("/new", "GET", 600, 0, 10.0, _lat(5.0, 6.0, 7.0)),
        ],
        started="2025-03-15T09:00:00.000Z",
    )


def test_rows_are_matched_by_name_and_method():
    cmp = compare(_base(), _new())
    assert [(r.label, r.status) for r in cmp.rows] == [
        ("GET /items", "changed"),
        ("POST /cart", "changed"),
        ("GET /new", "added"),
        ("GET /old", "removed"),
    ]
    items = {d.metric.key: d for d in cmp.rows[0].deltas}
    assert items["rps"].change_pct == pytest.approx(-10.0)
    assert items["rps"].worse_pct == pytest.approx(10.0)  # fewer requests/s is worse
    assert items["p95"].change_pct == pytest.approx(23.5)
    assert items["p50"].worse_pct == pytest.approx(5.0)
    assert items["error_rate"].base == pytest.approx(0.001) and items[
        "error_rate"
    ].new == pytest.approx(0.01)
    assert items["error_rate"].change_pct == pytest.approx(900.0)
    assert cmp.rows[2].deltas == () and cmp.totals.label == "Aggregated"


def test_a_row_with_the_same_method_but_another_name_is_not_matched():
    base = _run([RowResult("/a", "GET", 10, 0, 1.0, _lat(1, 2, 3))])
    new = _run([RowResult("/a", "POST", 10, 0, 1.0, _lat(1, 2, 3))])
    assert [r.status for r in compare(base, new).rows] == ["added", "removed"]


def test_regressions_beyond_a_threshold():
    cmp = compare(_base(), _new())
    found = regressions(cmp, 20.0)
    assert "GET /items: p95 20.0 ms → 24.7 ms (+23.5%)" in found
    assert "GET /items: error rate 0.1% → 1% (+900.0%)" in found
    assert not any("rps" in line or "POST /cart" in line for line in found)
    assert any(line.startswith("GET /items: rps") for line in regressions(cmp, 5.0))
    assert regressions(cmp, 1000.0) == []
    assert regressions(compare(_base(), _base()), 0.0) == []


def test_errors_appearing_from_zero_are_a_regression_and_improvements_are_not():
    base = _run([RowResult("/a", "GET", 100, 0, 10.0, _lat(10, 20, 30))])
    new = _run([RowResult("/a", "GET", 100, 1, 20.0, _lat(5, 10, 15))])
    cmp = compare(base, new)
    delta = {d.metric.key: d for d in cmp.rows[0].deltas}["error_rate"]
    assert math.isinf(delta.change_pct) and delta.change_text() == "new"
    assert regressions(cmp, 50.0) == [
        "GET /a: error rate 0% → 1% (new)",
        "Aggregated: error rate 0% → 1% (new)",
    ]


def test_render_marks_regressions():
    text = render_comparison(compare(_base(), _new()), 20.0)
    lines = text.splitlines()
    assert lines[0] == (
        "Comparing shop of 2025-03-15T09:00:00.000Z (new) with shop of 2025-03-14T09:00:00.000Z (base)"
    )
    items = next(line for line in lines if line.startswith("/items"))
    assert "20.0 → 24.7 ▲ +23.5%" in items
    assert "100 → 90.0 -10.0%" in items  # 10% fewer rps: below the 20% threshold, not marked
    assert "0.1% → 1% ▲ +900.0%" in items
    assert "6000 → 5400" in items
    cart = next(line for line in lines if line.startswith("/cart"))
    assert "▲" not in cart and "30.0 → 29.0 -3.3%" in cart and "60.0 → 60.0 " in cart
    assert any(line.startswith("/new (added)") for line in lines)
    assert any(line.startswith("/old (removed)") for line in lines)
    assert "3 regression(s) beyond 20%:" in text
    assert "  GET /items: p95 20.0 ms → 24.7 ms (+23.5%)" in lines
    rps_down = render_comparison(compare(_base(), _new()), 5.0)
    assert "100 → 90.0 ▼ -10.0%" in rps_down


def test_render_without_a_threshold_marks_beyond_ten_percent():
    text = render_comparison(compare(_base(), _new()), None)
    table, legend = text.rsplit("\n\n", 1)
    assert "▲ +23.5%" in table and "▼" not in table  # rps -10.0% is not beyond 10%
    assert legend == "▲/▼ mark a change for the worse beyond 10% (3 found)."
    assert "No regression beyond 10%." in render_comparison(compare(_base(), _base()), 10.0)


def _save(tmp_path: Path, name: str, result: RunResult) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(result.to_dict()), encoding="utf-8")
    return path


def test_load_result_round_trip_and_clear_errors(tmp_path: Path):
    saved = _save(tmp_path, "r.json", _base())
    assert load_result(saved) == _base()
    with pytest.raises(UsageError, match=r"missing\.json: no such file"):
        load_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenario": "x",\n  oops}')
    with pytest.raises(UsageError, match=r"bad\.json: not valid JSON \(line 2, column 3: "):
        load_result(bad)
    other = tmp_path / "other.json"
    other.write_text('{"name": "not a result"}')
    with pytest.raises(UsageError, match=r"other\.json: not a yamlswarm result \(missing key"):
        load_result(other)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a yamlswarm result"):
        load_result(listing)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not a UTF-8 text file"):
        load_result(binary)
    with pytest.raises(UsageError, match="cannot read"):
        load_result(tmp_path)


def test_report_command_re_renders_and_writes_html(tmp_path: Path):
    result = _save(tmp_path, "r.json", _new())
    out = io.StringIO()
    html = tmp_path / "report.html"
    assert report_command(result, {"html": html}, None, None, out) == 0
    text = out.getvalue()
    assert text.splitlines()[0].split() == [
        "Name",
        "Method",
        "Requests",
        "Failures",
        "RPS",
        "Min",
        "ms",
        "p50",
        "ms",
        "p90",
        "ms",
        "p95",
        "ms",
        "p99",
        "ms",
        "p99.9",
        "ms",
        "Max",
        "ms",
    ]
    assert "/items" in text and f"wrote html: {html}" in text
    assert "<h1>" in html.read_text(encoding="utf-8")


def test_report_command_compare_exit_codes(tmp_path: Path):
    base = _save(tmp_path, "base.json", _base())
    new = _save(tmp_path, "new.json", _new())
    out = io.StringIO()
    assert report_command(new, {}, base, 20.0, out) == 1
    assert "3 regression(s) beyond 20%" in out.getvalue()
    assert report_command(new, {}, base, 1000.0, io.StringIO()) == 0
    assert report_command(new, {}, base, None, io.StringIO()) == 0  # only marked, never failing
    assert report_command(base, {}, base, 0.0, io.StringIO()) == 0


def test_report_command_usage_errors(tmp_path: Path):
    new = _save(tmp_path, "new.json", _new())
    with pytest.raises(UsageError, match="needs --compare"):
        report_command(new, {}, None, 10.0, io.StringIO())
    with pytest.raises(UsageError, match="not a percentage"):
        report_command(new, {}, new, -1.0, io.StringIO())
    with pytest.raises(UsageError, match="no such file"):
        report_command(new, {}, tmp_path / "nope.json", None, io.StringIO())


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000, "[" * 50_000],
    ids=["deep-array", "deep-object", "deep-unclosed"],
)
def test_report_on_deeply_nested_json_is_a_usage_error_not_a_traceback(tmp_path: Path, text):
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    done = yamlswarm("report", path)
    assert done.returncode == 2, done.stderr
    assert "not a yamlswarm result" in done.stderr
    assert "Traceback" not in done.stderr
