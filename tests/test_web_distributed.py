"""The web UI on a master with two real workers: Start in the page starts the cluster, a new
user count is split across the workers (seen as the target's connections), Stop stops them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.cli_helpers import REPO, cli_env, write_scenario
from tests.servers import free_port
from tests.web_helpers import SCENARIO, Target, wait_until

TOKEN = "web-dist-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "yamlswarm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env({"YAMLSWARM_TOKEN": TOKEN}),
        cwd=REPO,
    )


def _call(base: str, method: str, path: str, fields: dict | None = None) -> tuple[int, dict]:
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=AUTH)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


@pytest.fixture
def target():
    server = Target()
    yield server
    server.stop()


def test_master_web_ui_starts_steers_and_stops_two_workers(tmp_path, target):
    scenario = write_scenario(tmp_path, SCENARIO)
    port, web_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    master = _spawn(
        "master", str(scenario), "--host", target.url, "--expect-workers", "2",
        "--bind", f"127.0.0.1:{port}", "--web", f"127.0.0.1:{web_port}", "--autoquit", "0", "-q",
    )  # fmt: skip
    workers = [_spawn("worker", "--master", f"127.0.0.1:{port}", "-q") for _ in range(2)]
    try:
        status, stats = wait_until(lambda: _call(base, "GET", "/stats/requests")[0] == 200
                                   and _call(base, "GET", "/stats/requests"), timeout=30)  # fmt: skip
        assert stats["state"] == "ready" and target.requests() == 0

        status, reply = _call(base, "POST", "/swarm", {"user_count": 4, "spawn_rate": 50})
        assert status == 200 and reply["success"], reply
        wait_until(lambda: target.connections() == 4, timeout=15)
        picture = wait_until(lambda: _state_with_workers(base))
        assert sorted(w["worker"] for w in picture["workers"]) == ["w1", "w2"]
        assert all(w["state"] == "running" and w["users"] == 2 for w in picture["workers"])

        # the load generators' health is the busiest worker's (runtime.health on the workers)
        wait_until(lambda: _call(base, "GET", "/api/state")[1]["generator"]["cpu_pct"] > 0)

        _call(base, "POST", "/swarm", {"user_count": 6})
        wait_until(lambda: target.connections() == 6, timeout=15)
        wait_until(lambda: _call(base, "GET", "/stats/requests")[1].get("user_count") == 6)
        assert _call(base, "GET", "/api/result")[1]["totals"]["requests"] > 0

        assert _call(base, "GET", "/stop")[1]["success"]
        out, err = master.communicate(timeout=30)
        assert master.returncode == 0, out + err
        assert "Aggregated" in out
        for worker in workers:
            worker.communicate(timeout=30)
        wait_until(lambda: target.connections() == 0)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)


def _state_with_workers(base: str):
    status, picture = _call(base, "GET", "/api/state")
    workers = picture.get("workers") or []
    ready = status == 200 and len(workers) == 2 and all(w["users"] == 2 for w in workers)
    return picture if ready else None
