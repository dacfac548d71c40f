"""Tests of yamlswarm.report.html: the self-contained page, escaping, charts, and Chromium rendering."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from yamlswarm.errors import UsageError
from yamlswarm.report.html import (
    MAX_POINTS,
    describe_model,
    nice_ticks,
    render_html,
    time_ticks,
    write_html,
)
from yamlswarm.result import (
    CheckResult,
    ErrorResult,
    Latency,
    RowResult,
    RunResult,
    ThresholdResult,
    TimelineRow,
    Totals,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _latency(p50: float, spread: float = 1.0) -> Latency:
    return Latency(
        min=round(p50 * 0.3, 3),
        mean=round(p50 * 1.1, 3),
        p50=p50,
        p90=round(p50 * (1 + 0.8 * spread), 3),
        p95=round(p50 * (1 + 1.2 * spread), 3),
        p99=round(p50 * (1 + 2.5 * spread), 3),
        p99_9=round(p50 * (1 + 4 * spread), 3),
        max=round(p50 * (1 + 6 * spread), 3),
    )


def _timeline(seconds: int, rng: random.Random) -> list[TimelineRow]:
    rows = []
    for t in range(1, seconds + 1):
        users = min(50, round(50 * t / 30))
        burst = 95 <= t < 105
        rps = round(users * 8.2 * rng.uniform(0.92, 1.08), 3)
        p50 = round(18 + users * 0.25 + rng.uniform(-2, 2) + (35 if burst else 0), 3)
        fails = round(rps * (0.18 if burst else rng.choice((0, 0, 0, 0.002))), 3)
        rows.append(
            TimelineRow(t, users, rps, fails, p50, round(p50 * 2.3, 3), round(p50 * 3.6, 3))
        )
    return rows


def _sample_requests() -> list[RowResult]:
    return [
        RowResult("/api/products", "GET", 31250, 12, 173.6, _latency(21.4)),
        RowResult("/api/products/[id]", "GET", 27980, 9, 155.4, _latency(19.8)),
        RowResult("/api/cart", "POST", 7020, 4, 39.0, _latency(27.1, 1.3)),
        RowResult("/api/checkout", "POST", 7010, 702, 38.9, _latency(48.6, 2.0)),
        RowResult("/login", "POST", 1450, 0, 8.06, _latency(35.2)),
        RowResult("browse", "FLOW", 5210, 21, 28.9, _latency(820.0, 0.6)),
        RowResult("buy", "FLOW", 1400, 140, 7.78, _latency(1310.0, 0.5)),
        RowResult("checkout", "GROUP", 7010, 702, 38.9, _latency(76.0, 1.5)),
    ]


def _sample_errors() -> list[ErrorResult]:
    return [
        ErrorResult(
            "/api/checkout",
            "POST",
            "HTTP 503",
            690,
            95.02,
            104.97,
            '503 Service Unavailable: {"error": "overloaded"}',
        ),
        ErrorResult("/api/products", "GET", "Timeout", 12, 41.3, 170.2, "no response within 30s"),
        ErrorResult(
            "/api/checkout",
            "POST",
            "check failed: jmespath order_id exists",
            12,
            96.1,
            103.4,
            "order_id: missing",
        ),
        ErrorResult("/api/products/[id]", "GET", "ConnectionReset", 9, 97.5, 101.0, None),
        ErrorResult("/api/cart", "POST", "HTTP 500", 4, 12.0, 150.4, "Internal Server Error"),
    ]


def sample_result(seconds: int = 180) -> RunResult:
    """A realistic 3-minute run: ramp to 50 users, a burst of 503s at 95-105 s."""
    rng = random.Random(7)
    timeline = _timeline(seconds, rng)
    requests = _sample_requests()
    total = sum(r.requests for r in requests if r.method in ("GET", "POST"))
    failed = sum(r.failures for r in requests if r.method in ("GET", "POST"))
    return RunResult(
        yamlswarm_version="0.1.0",
        scenario="shop-checkout",
        started_at="2025-03-14T09:26:53.589Z",
        duration_s=float(seconds),
        model={"kind": "closed", "users": 50, "spawn_rate": 1.67, "duration_s": 180.0},
        iterations=6610,
        dropped=0,
        totals=Totals(total, failed, round(total / seconds, 3), _latency(22.7, 1.4)),
        requests=requests,
        errors=_sample_errors(),
        thresholds=[
            ThresholdResult("p95 < 300ms", True, 60.8),
            ThresholdResult("error_rate < 0.5%", False, failed / total),
            ThresholdResult("checkout: p95 < 800ms", True, 161.6),
            ThresholdResult("GET /api/products: p99 < 500ms", True, 74.9),
        ],
        timeline=timeline,
        checks=[
            CheckResult("/api/checkout", "POST", "status 200", 690),
            CheckResult("/api/checkout", "POST", "jmespath order_id exists", 12),
            CheckResult("/api/products", "GET", "status 200", 0),
        ],
    )


def _hostile_result() -> RunResult:
    result = sample_result(20)
    result.scenario = "<script>alert('scenario')</script>"
    result.requests[0].name = '/search?q=<b>&x="1"'
    result.errors[0].example = "</pre><script>alert('example')</script>"
    result.errors[1].error = "<img src=x onerror=alert(1)>"
    result.aborted = "p99 < 1s & <abort>"
    return result


def test_page_has_every_part_of_the_report():
    page = render_html(sample_result())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>yamlswarm report: shop-checkout</title>" in page
    for text in (
        "Requests per second",
        "Users",
        "Latency percentiles",
        "Errors per second",
        "Requests: latency by percentile",
        "Flows, groups and steps",
    ):
        assert text in page
    for row in ("/api/products/[id]", "/api/checkout", "browse", "Aggregated"):
        assert f">{row}</td>" in page
    # summary cards
    assert ">THRESHOLDS FAILED<" in page and ">3/4 passed<" in page
    assert ">closed, 50 users, spawn 1.67/s, 3m<" in page and ">6610<" in page
    # errors with first/last seen and the example; thresholds with measured values
    assert ">HTTP 503</td><td>690</td><td>1m35s</td><td>1m45s</td>" in page
    assert "overloaded" in page
    assert '<td class="bad">FAIL</td><td>0.973%</td>' in page
    assert page.count("<svg ") == 6 and page.count("<figure>") == 6


def test_page_is_self_contained():
    page = render_html(sample_result())
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "url(" not in page and "@import" not in page
    # the only URL is the SVG namespace, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


def test_user_text_is_escaped():
    page = render_html(_hostile_result())
    assert "<script>" not in page and "<img" not in page and "<abort>" not in page
    assert "&lt;script&gt;alert(&#x27;scenario&#x27;)&lt;/script&gt;" in page
    assert "/search?q=&lt;b&gt;&amp;x=&quot;1&quot;" in page
    assert "&lt;/pre&gt;&lt;script&gt;" in page
    assert "aborted: p99 &lt; 1s &amp; &lt;abort&gt;" in page
    assert "p95 &lt; 300ms" in page  # threshold expressions contain < too


def test_empty_result_renders_with_no_data_charts():
    result = RunResult("0.1.0", "empty", "2025-01-01T00:00:00.000Z", 0.0, {"kind": "iterations"})
    page = render_html(result)
    assert page.count(">no data</text>") == 5  # four timeline charts and the request percentiles
    assert ">FINISHED<" in page and "<h2>Errors</h2>" not in page


def test_long_timelines_are_bucketed_keeping_the_worst_latency():
    result = sample_result(3600)
    result.timeline[2000].p99 = 9999.0
    page = render_html(result)
    errors_chart = page.split("Errors per second", 1)[1].split("</figure>", 1)[0]
    bands = errors_chart.count('class="band"')
    assert 0 < bands <= MAX_POINTS
    assert "p99 9999" in page  # the spike survives bucketing (max of its bucket)
    assert len(page) < 1_500_000


def test_latency_gaps_for_seconds_without_requests():
    result = sample_result(10)
    result.timeline[4].rps = 0.0
    page = render_html(result)
    latency = page.split("Latency percentiles", 1)[1].split("</figure>", 1)[0]
    assert latency.count('class="line"') == 6  # each of 3 lines split in two segments
    assert "5s: no data (ms)" in latency


def test_write_html_and_unwritable_path(tmp_path: Path):
    target = tmp_path / "out" / "report.html"
    write_html(sample_result(30), target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        write_html(sample_result(5), blocker / "report.html")


def test_axis_helpers():
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(440) == [0, 100, 200, 300, 400, 500]
    assert nice_ticks(9.2) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0.37)[-1] >= 0.37 and len(nice_ticks(0.37)) <= 7
    assert time_ticks(1, 20) == [5.0, 10.0, 15.0, 20.0]
    assert time_ticks(1, 180) == [30.0, 60.0, 90.0, 120.0, 150.0, 180.0]
    assert time_ticks(1, 3600)[1] - time_ticks(1, 3600)[0] == 600
    assert describe_model({"kind": "stages", "stages": [{"users": 10}, {"users": 80}]}) == (
        "stages, 2 stages up to 80 users"
    )
    assert describe_model(
        {"kind": "open", "phases": [{"rate": 5, "ramp_to": 20}], "max_users": 100}
    ) == ("open, up to 20 iterations/s, max 100 users")


def _chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={user_data}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package: chromium)")
def test_renders_in_headless_chromium(tmp_path: Path):
    page = tmp_path / "report.html"
    write_html(sample_result(), page)
    url = page.as_uri()
    dom = _chromium(
        "--enable-logging=stderr", "--v=0", "--dump-dom", url, user_data=tmp_path / "u1"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h2>Thresholds</h2>" in dom.stdout
    assert dom.stdout.count("<svg") == 6 and dom.stdout.count("<path") > 12
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    png = tmp_path / "shot.png"
    shot = _chromium(
        f"--screenshot={png}", "--window-size=1280,2000", url, user_data=tmp_path / "u2"
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a blank page is ~10 kB


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package: chromium)")
def test_console_check_catches_a_script_error(tmp_path: Path):
    """The console check above is real: a page with a script error is caught by it."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>missing_function()</script></body></html>")
    dom = _chromium(
        "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri(), user_data=tmp_path / "u"
    )
    assert any("Uncaught" in line for line in dom.stderr.splitlines())


def test_the_requests_table_shows_the_mean_body_size():
    result = sample_result(20)
    result.requests[0].size_bytes = result.requests[0].requests * 2048 + 7
    page = render_html(result)
    assert "<th>Avg size B</th>" in page
    row = next(line for line in page.splitlines() if ">/api/products</td>" in line)
    assert row.endswith("<td>2,048</td></tr>")
    flow = next(line for line in page.splitlines() if ">browse</td>" in line)
    assert flow.endswith("<td></td></tr>")  # a flow is no request: no size
