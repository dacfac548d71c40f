"""The live exports (yamlswarm/export): per-second windows from the live Stats, delivery that
never blocks and reports a failing backend once, the encodings, the `--out` command line,
`--out jsonl=FILE` and `--out webhook=URL` through the CLI against real loopback servers."""

from __future__ import annotations

import io
import json
import sys

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm.errors import UsageError
from yamlswarm.export.exposition import exposition
from yamlswarm.export.influx import line_protocol, write_url
from yamlswarm.export.pipe import Pipe
from yamlswarm.export.provenance import masked_command, masked_host
from yamlswarm.export.sample import QUANTILES, Sampler
from yamlswarm.export.series import points
from yamlswarm.export.spec import parse_out
from yamlswarm.export.webhook import is_slack, json_body, slack_body
from yamlswarm.runtime.hdr import Dist, ms, to_us
from yamlswarm.runtime.stats import Stats


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _dist(latencies: list[float]) -> Dist:
    dist = Dist()
    for s in latencies:
        dist.record(to_us(s))
    return dist


def test_windows_are_each_seconds_requests_exactly_and_counters_are_cumulative():
    clock = Clock()
    stats = Stats(clock=clock)
    items, cart = stats.row("/items", "GET"), stats.row("/cart", "POST")
    flow = stats.row("browse", "FLOW")
    sampler = Sampler(medians=True)
    seconds = [
        ([0.001 * i for i in range(1, 101)], [0.05, 0.06]),
        ([0.2 + 0.001 * i for i in range(50)], []),
    ]
    for t, (item_latencies, cart_latencies) in enumerate(seconds, start=1):
        for s in item_latencies:
            items.success(s)
        for s in cart_latencies:
            cart.failure(s, "HTTP 500")
        flow.success(1.5)
        clock.now = 1000.0 + t
        stats.tick(users=2)
        sample = sampler.sample(stats, 2, clock.now, float(t))
        rows = {(r.name, r.method): r for r in sample.rows}
        window = rows[("/items", "GET")].window
        expected = _dist(item_latencies)
        assert window is not None and window.requests == len(item_latencies)
        for q in QUANTILES:
            assert window.quantiles[q] == expected.percentile_ms(q * 100), q
        assert rows[("/items", "GET")].requests == items.requests  # cumulative, exact
        assert rows[("browse", "FLOW")].kind == "transaction"
        cart_row = rows[("/cart", "POST")]
        assert cart_row.failures == cart.failures
        assert cart_row.window is None  # only failures: the latency windows are of successes
        assert cart_row.requests == cart.requests  # the counters count failures too
        merged = _dist(item_latencies)
        assert sample.total.window is not None
        assert sample.total.window.requests == merged.n
        assert sample.total.window.quantiles[0.99] == merged.percentile_ms(99.0)
        assert sample.total.requests == items.requests + cart.requests  # FLOW not added in
        assert sample.total.median == stats.aggregate()[0].percentile_ms(50.0)
    assert sample.total.window.quantiles[1.0] == ms(to_us(0.249))


def test_series_keep_transactions_out_of_the_request_counters():
    clock = Clock()
    stats = Stats(clock=clock)
    for _ in range(7):
        stats.row("/a", "GET").success(0.01)
    stats.row("/b", "POST").failure(0.02, "HTTP 503")
    stats.row("checkout", "GROUP").success(0.5)
    stats.row("hook", "CALL").failure(0.0, "boom")  # a step row: not exported
    sample = Sampler().sample(stats, 3, 1.0, 1.0)
    by_name: dict[str, float] = {}
    for name, labels, value in points(sample, "shop", "r1"):
        assert labels["scenario"] == "shop" and labels["run_id"] == "r1"
        if name.endswith("_total"):
            by_name[name] = by_name.get(name, 0) + value
    assert by_name == {
        "yamlswarm_requests_total": 8,
        "yamlswarm_failures_total": 1,
        "yamlswarm_transactions_total": 1,
        "yamlswarm_transaction_failures_total": 0,
    }
    text = exposition(stats, 3, "shop", "r1").decode()
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["yamlswarm_requests"].type == "counter"
    assert sum(s.value for s in families["yamlswarm_requests"].samples) == 8
    assert families["yamlswarm_users"].samples[0].value == 3
    quantiles = {s.labels["quantile"] for s in families["yamlswarm_latency_ms"].samples}
    assert quantiles == {"0.5", "0.9", "0.95", "0.99", "1"}


def test_line_protocol_escapes_tags_and_leaves_out_empty_ones():
    stats = Stats(clock=Clock())
    stats.row("/a b,c=d", "GET").success(0.01)
    lines = line_protocol(Sampler().sample(stats, 1, 12.5, 1.0), "my shop", "r1").splitlines()
    assert lines[0].startswith(
        r"yamlswarm_requests,method=GET,name=/a\ b\,c\=d,run_id=r1,scenario=my\ shop "
    )
    assert "requests=1i,failures=0i,window_requests=1i" in lines[0]
    assert lines[0].endswith(" 12500")
    assert lines[1].startswith("yamlswarm_totals,run_id=r1,scenario=my\\ shop requests=1i")
    assert lines[2] == "yamlswarm_users,run_id=r1,scenario=my\\ shop users=1i 12500"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("http://127.0.0.1:8086?db=lt", "http://127.0.0.1:8086/write?db=lt&precision=ms"),
        ("http://h:8086/write?db=lt", "http://h:8086/write?db=lt&precision=ms"),
        (
            "https://h/api/v2/write?org=o&bucket=b",
            "https://h/api/v2/write?org=o&bucket=b&precision=ms",
        ),
    ],
)
def test_influx_write_urls(url, expected):
    assert write_url(url) == expected


def test_the_pipe_reports_a_failing_backend_once_and_its_recovery():
    calls: list[list[int]] = []
    failures = iter([True, True, True, False])

    def deliver(batch):
        if next(failures, False):
            raise OSError("connection refused")
        calls.append(list(batch))

    err = io.StringIO()
    pipe = Pipe("prometheus http://x", deliver, err, sleep=lambda s: None)
    for i in range(3):
        pipe.put(i)
    pipe.finish()
    assert pipe.wait(5)
    assert sorted(i for batch in calls for i in batch) == [0, 1, 2]
    lines = err.getvalue().splitlines()
    assert lines == [
        "yamlswarm: export prometheus http://x: failed: connection refused; "
        "retrying while the run goes on",
        "yamlswarm: export prometheus http://x: recovered",
    ]


def test_a_full_queue_drops_its_oldest_item_and_put_never_blocks():
    import threading

    gate = threading.Event()
    seen: list[int] = []

    def deliver(batch):
        gate.wait(5)
        seen.extend(batch)

    pipe = Pipe("slow", deliver, io.StringIO(), capacity=3)
    for i in range(10):
        pipe.put(i)  # returns at once though the backend is stuck
    gate.set()
    pipe.finish()
    assert pipe.wait(5)
    assert pipe.dropped > 0 and seen[-1] == 9 and len(seen) + pipe.dropped == 10


@pytest.mark.parametrize(
    "text,message",
    [
        ("promethus=http://h/x", "'promethus' is not an export kind (did you mean 'prometheus'?)"),
        ("prometheus", "is not KIND=TARGET"),
        ("prometheus=ftp://h/x", "is not an http:// or https:// URL"),
        ("webhook=http://h:99999/", "has an invalid port"),
        ("influxdb=http://h:8086", "names no database"),
        ("influxdb=http://h:8086/api/v2/write?org=o", "names no bucket"),
    ],
)
def test_bad_out_values_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=None) as info:
        parse_out(text)
    assert message in str(info.value)


def test_prometheus_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cramjam", None)  # import cramjam now raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'yamlswarm\[prometheus\]'"):
        parse_out("prometheus=http://127.0.0.1:9090/api/v1/write")


def test_bad_out_on_the_command_line_is_exit_2_without_a_traceback(tmp_path):
    scenario = write_scenario(tmp_path, SCENARIO.format(thresholds=""))
    run = yamlswarm("run", scenario, "-H", "http://127.0.0.1:9", "--out", "graphite=x")
    assert run.returncode == 2
    assert "'graphite' is not an export kind" in run.stderr and "Traceback" not in run.stderr
    (tmp_path / "adir").mkdir()
    run = yamlswarm(
        "run", scenario, "-H", "http://127.0.0.1:9", "--out", f"jsonl={tmp_path / 'adir'}"
    )
    assert run.returncode == 2
    assert "it is a directory" in run.stderr and "Traceback" not in run.stderr


def test_masking_of_the_host_and_the_command_line():
    assert masked_host("http://bob:hunter2@127.0.0.1:8080/") == "http://bob:****@127.0.0.1:8080/"
    assert masked_command(
        [
            "yamlswarm",
            "run",
            "s.yaml",
            "--token",
            "t0p",
            "-e",
            "API_KEY=abc",
            "-e",
            "USER=bob",
            "--out",
            "webhook=https://hooks.slack.com/services/T/B/SECRET",
        ]
    ) == [
        "yamlswarm",
        "run",
        "s.yaml",
        "--token",
        "****",
        "-e",
        "API_KEY=****",
        "-e",
        "USER=bob",
        "--out",
        "webhook=https://hooks.slack.com/****",
    ]


SCENARIO = """
version: 1
name: hooked
load: {{users: 2, spawn_rate: 20, duration: 2s}}
users:
  - name: u
    flows:
      - name: browse
        steps:
          - get: /echo
          - think: 50ms
{thresholds}
"""


def test_jsonl_has_one_object_per_second_and_row(tmp_path):
    scenario = write_scenario(tmp_path, SCENARIO.format(thresholds=""))
    lines_path, result_path = tmp_path / "live" / "run.jsonl", tmp_path / "r.json"
    with CountingServer() as server:
        run = yamlswarm(
            *("run", scenario, "-H", server.url, "-q", "--json", result_path),
            *("--out", f"jsonl={lines_path}"),
        )
        received = server.count("/echo")
    assert run.returncode == 0, run.stderr
    objects = [json.loads(line) for line in lines_path.read_text().splitlines()]
    result = json.loads(result_path.read_text())
    requests = [o for o in objects if o["type"] == "request"]
    seconds = sorted({o["t"] for o in requests})
    assert len(seconds) >= 2  # a second at a time while it ran, and the final one
    assert all(o["name"] == "/echo" and o["method"] == "GET" for o in requests)
    assert requests[-1]["requests"] == result["totals"]["requests"] == received
    windows = [o["window"]["requests"] for o in requests if o["window"]]
    assert sum(windows) == received  # the windows add up to every request, none twice
    assert {o["type"] for o in objects} == {"request", "transaction", "total"}
    assert all(o["run_id"] == objects[0]["run_id"] and o["scenario"] == "hooked" for o in objects)


@pytest.mark.parametrize("passing", [True, False], ids=["passed", "failed"])
def test_the_webhook_gets_one_summary_at_the_end(tmp_path, passing):
    threshold = "p95 < 10s" if passing else "p95 < 0.001ms"  # 1 µs: no request is so fast
    scenario = write_scenario(tmp_path, SCENARIO.format(thresholds=f'thresholds: ["{threshold}"]'))
    html, result_path = tmp_path / "report.html", tmp_path / "r.json"
    with CountingServer() as server, CountingServer() as receiver:
        run = yamlswarm(
            *("run", scenario, "-H", server.url, "-q", "--json", result_path, "--html", html),
            *("--out", f"webhook={receiver.url}/hook"),
        )
        hooks = [r for r in receiver.requests if r.path == "/hook"]
    assert run.returncode == (0 if passing else 1), run.stderr
    (hook,) = hooks
    assert hook.method == "POST" and hook.header("Content-Type") == "application/json"
    body = json.loads(hook.body)
    result = json.loads(result_path.read_text())
    assert body["passed"] is passing and body["exit_code"] == run.returncode
    assert body["totals"]["requests"] == result["totals"]["requests"] > 0
    assert body["html_report"] == str(html.resolve()) and html.exists()
    assert body["failed_thresholds"] == (
        [] if passing else [{"expr": threshold, "value": body["thresholds"][0]["value"]}]
    )
    assert body["host"] == server.url and body["scenario"] == "hooked"


def test_slack_webhooks_get_slacks_format():
    from yamlswarm.result import RunResult, ThresholdResult, Totals

    assert is_slack("https://hooks.slack.com/services/T/B/X")
    assert not is_slack("https://example.test/hooks.slack.com")
    result = RunResult("0", "shop", "2026-01-01T00:00:00.000Z", 10.0, {}, totals=Totals(100, 2))
    result.thresholds = [ThresholdResult("p95 < 1ms", False, 3.2)]
    body = slack_body(json_body(result, "r1", {}))
    assert set(body) == {"text"}
    assert "*yamlswarm: shop FAILED*" in body["text"] and "`p95 < 1ms`" in body["text"]


def test_the_result_names_host_scenario_file_and_command(tmp_path):
    scenario = write_scenario(tmp_path, SCENARIO.format(thresholds=""))
    result_path, html = tmp_path / "r.json", tmp_path / "r.html"
    with CountingServer() as server:
        host = server.url.replace("http://", "http://bob:hunter2@")
        run = yamlswarm(
            "run", scenario, "-H", host, "-q", "--json", result_path, "--html", html, "-t", "1s"
        )
    assert run.returncode == 0, run.stderr
    result = json.loads(result_path.read_text())
    assert result["host"] == server.url.replace("http://", "http://bob:****@")
    assert result["scenario_file"] == str(scenario.resolve())
    assert result["command"][:4] == ["yamlswarm", "run", str(scenario), "-H"]
    assert "hunter2" not in json.dumps(result) and "hunter2" not in html.read_text()
    page = html.read_text()
    assert "bob:****@" in page and str(scenario.resolve()) in page
