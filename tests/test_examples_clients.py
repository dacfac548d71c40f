"""The MQTT and Redis examples of scenarios/, run as a user would against real servers on loopback.

Each test starts its own server on a free 127.0.0.1 port — Mosquitto with a config file,
redis-server with no persistence — runs `yamlswarm run scenarios/...` with the server's
address in `-e`, and checks from the server's side that what it saw equals the report's rows
(a subscriber in the test counts the MQTT messages; Redis' own `INFO commandstats` and the
counter key count the commands). They skip with the reason when the server binary or the
client package (the `mqtt` / `redis` extras) is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, yamlswarm
from tests.servers import free_port, listening, stop_process, wait_until

SCENARIOS = REPO / "scenarios"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _run(tmp_path: Path, scenario: str, *args: str) -> dict:
    out = tmp_path / "result.json"
    run = yamlswarm("run", SCENARIOS / scenario, "--json", out, "-q", *args, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


def _rows(result: dict, kind: str) -> dict[str, dict]:
    rows = {r["name"]: r for r in result["requests"] if r["method"] == kind}
    for row in rows.values():  # first-class rows: percentiles, in order, within min..max
        lat = row["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], row
    return rows


# ----------------------------------------------------------------------------- MQTT


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[int]:
    """A Mosquitto broker on a free loopback port (anonymous, no persistence); its port."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto)")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    log = (tmp_path / "mosquitto.log").open("w")
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
    try:
        wait_until(lambda: listening(port), "mosquitto", 15, process)
        yield port
    finally:
        stop_process(process)
        log.close()


class _Counter:
    """A subscriber of the test's own: counts the messages the broker delivered on a topic."""

    def __init__(self, mqtt, port: int, topic: str) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="yamlswarm-test-counter")
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        client.on_message = self._message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        assert self._subscribed.wait(10), "the test's subscriber got no SUBACK"

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.count += 1

    def settle(self, expected: int, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while self.count < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # and nothing more (no duplicates) arrives after it
        return self.count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("extra", [(), ("--processes", "2")], ids=["local", "two-processes"])
def test_mqtt_example_counts_equal_the_brokers(tmp_path, mosquitto, extra):
    mqtt = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (the 'mqtt' extra)")
    prefix = f"yamlswarm-test/{free_port()}"
    counter = _Counter(mqtt, mosquitto, f"{prefix}/#")
    try:
        result = _run(
            tmp_path,
            "mqtt_iot.yaml",
            *("-e", f"MQTT_BROKER=127.0.0.1:{mosquitto}", "-e", f"MQTT_TOPIC_PREFIX={prefix}"),
            *("--iterations", "8", "-u", "4", *extra),
        )
        rows = _rows(result, "MQTT")
        delivered = counter.settle(rows["publish"]["requests"])
    finally:
        counter.close()
    assert set(rows) == {"connect", "subscribe", "publish", "receive"}
    assert rows["connect"]["requests"] == rows["subscribe"]["requests"] == 4
    assert rows["publish"]["requests"] == rows["receive"]["requests"] == 8
    assert all(row["failures"] == 0 for row in rows.values()), rows
    assert delivered == rows["publish"]["requests"]  # the broker's side: every publish, once
    assert rows["receive"]["size_bytes"]["total"] > 8 * 20  # the readings' bytes came back
    assert all(t["passed"] for t in result["thresholds"]), result["thresholds"]


def test_mqtt_example_without_a_broker_fails_clearly(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (the 'mqtt' extra)")
    out = tmp_path / "result.json"
    run = yamlswarm(
        "run",
        SCENARIOS / "mqtt_iot.yaml",
        *("-e", f"MQTT_BROKER=127.0.0.1:{free_port()}", "--iterations", "2", "-u", "1"),
        *("--json", out, "-q"),
    )
    assert run.returncode == 1, run.stdout + run.stderr  # thresholds without data fail
    assert "hook connect raised (shown once)" in run.stderr  # the hook's traceback, once
    result = json.loads(out.read_text())
    connect = next(r for r in result["requests"] if (r["method"], r["name"]) == ("MQTT", "connect"))
    assert connect["failures"] == connect["requests"] == 1
    errors = {e["error"] for e in result["errors"] if e["name"] == "connect"}
    assert any(e.startswith("ConnectionRefusedError") for e in errors), errors
    publish = next(r for r in result["requests"] if (r["method"], r["name"]) == ("MQTT", "publish"))
    assert publish["failures"] == publish["requests"] == 2  # each iteration went on, and failed


# ----------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_port(tmp_path) -> Iterator[int]:
    """A redis-server on a free loopback port, without persistence; its port."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(tmp_path)]
    log = (tmp_path / "redis.log").open("w")
    process = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        wait_until(lambda: listening(port), "redis-server", 15, process)
        yield port
    finally:
        stop_process(process)
        log.close()


def test_redis_example_counts_equal_the_servers(tmp_path, redis_port):
    redis = pytest.importorskip("redis", reason="needs the redis client (the 'redis' extra)")
    server = redis.Redis(port=redis_port)
    server.config_resetstat()  # count only the run's commands
    prefix = f"yamlswarm-test-{redis_port}"
    result = _run(
        tmp_path,
        "redis_cache.yaml",
        *("-e", f"REDIS_URL=redis://127.0.0.1:{redis_port}/0", "-e", f"REDIS_KEY_PREFIX={prefix}"),
        *("--iterations", "30", "-u", "3"),
    )
    rows = _rows(result, "REDIS")
    stats = server.info("commandstats")
    calls = {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "set")}
    views = int(server.get(f"{prefix}:views") or 0)
    server.close()
    assert set(rows) == {"PING", "SET session", "GET session", "INCR views"}
    assert all(row["failures"] == 0 for row in rows.values()), rows
    assert rows["PING"]["requests"] == 3
    assert calls == {"set": 30, "get": 30}  # the server's count of each command
    assert rows["SET session"]["requests"] == rows["GET session"]["requests"] == 30
    assert views == rows["INCR views"]["requests"] == 30
    # each GET returned its session, e.g. b"user=1;iteration=3": its bytes are the row's size
    assert rows["GET session"]["size_bytes"]["total"] >= 30 * len("user=1;iteration=1")
    assert all(t["passed"] for t in result["thresholds"]), result["thresholds"]
