"""Distributed mode end to end: a real master and real worker processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import CountingServer, free_port

PY = sys.executable
TOKEN = "test-token"  # a master without one makes up its own: these tests share this one
ITERATIONS = """\
version: 1
name: dist
load: {iterations: 37, users: 4}
users:
  - flows:
      - steps:
          - get: /hit
thresholds:
  - "requests == 37"
"""
UNIQUE = """\
version: 1
name: unique
data:
  accounts: {csv: data/accounts.csv, order: unique, per: iteration, on_exhausted: stop_user}
load: {iterations: 20, users: 4}
users:
  - flows:
      - steps:
          - get: "/use/{{ data.accounts.name }}"
"""
STEADY = """\
version: 1
name: steady
load: {users: 4, spawn_rate: 100, duration: 7s}
users:
  - wait: {constant: 50ms}
    flows:
      - steps:
          - get: /steady
"""


def _env(token: str | None = TOKEN) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("YAMLSWARM_TOKEN", None)
    if token is not None:
        env["YAMLSWARM_TOKEN"] = token
    return env


def _master(scenario: Path, port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            PY,
            "-m",
            "yamlswarm",
            "master",
            str(scenario),
            "--bind",
            f"127.0.0.1:{port}",
            "-q",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _worker(port: int, cwd: Path, *args: str, token: str | None = TOKEN) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "yamlswarm", "worker", "--master", f"127.0.0.1:{port}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_env(token),
    )


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with CountingServer() as srv:
        yield srv


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"process did not finish in {timeout}s\n{out}\n{err}")
    return proc.returncode, out, err


def _scenario(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "scenario"
    directory.mkdir(exist_ok=True)
    path = directory / "s.yaml"
    path.write_text(text)
    return path


def test_two_workers_in_an_empty_directory_run_exactly_n_iterations(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    port = free_port()
    result = tmp_path / "result.json"
    master = _master(
        _scenario(tmp_path, ITERATIONS),
        port,
        "--expect-workers",
        "2",
        "-H",
        server.url,
        "--json",
        str(result),
    )
    workers = [_worker(port, empty) for _ in range(2)]
    code, out, err = _finish(master)
    assert code == 0, out + err
    assert [_finish(w)[0] for w in workers] == [0, 0]
    assert server.count("/hit") == 37
    data = json.loads(result.read_text())
    assert data["totals"]["requests"] == 37 and data["iterations"] == 37
    assert "on 2 worker(s)" in out
    assert list(empty.iterdir()) == []  # workers unpack elsewhere and clean up


def test_unique_rows_are_never_used_twice_across_the_cluster(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    scenario = _scenario(tmp_path, UNIQUE)
    (scenario.parent / "data").mkdir()
    names = [f"acct{i:02d}" for i in range(20)]
    (scenario.parent / "data" / "accounts.csv").write_text("name\n" + "\n".join(names) + "\n")
    port = free_port()
    master = _master(scenario, port, "--expect-workers", "2", "-H", server.url)
    workers = [_worker(port, empty) for _ in range(2)]
    code, out, err = _finish(master)
    assert code == 0, out + err
    for worker in workers:
        _finish(worker)
    used = {path: n for (_, path), n in server.counts.items() if path.startswith("/use/")}
    assert used == {f"/use/{name}": 1 for name in names}


def test_a_worker_killed_mid_run_is_reported_lost_and_the_run_completes(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    port = free_port()
    result = tmp_path / "result.json"
    master = _master(
        _scenario(tmp_path, STEADY),
        port,
        "--expect-workers",
        "2",
        "-H",
        server.url,
        "--heartbeat",
        "0.5",
        "--heartbeat-timeout",
        "2",
        "--json",
        str(result),
    )
    workers = [_worker(port, empty) for _ in range(2)]
    deadline = time.monotonic() + 15
    while server.count("/steady") < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.count("/steady") >= 20, "the run did not start"
    os.kill(workers[1].pid, signal.SIGKILL)
    code, out, err = _finish(master)
    assert code == 0, out + err
    assert "lost workers: w" in out and "(no heartbeat for 2s)" in out
    assert "lost (no heartbeat for 2s); the run goes on with 1 worker(s)" in err
    data = json.loads(result.read_text())
    assert data["totals"]["requests"] > 20
    assert data["duration_s"] >= 6.5  # the survivor ran the whole duration
    assert _finish(workers[0])[0] == 0


def test_workers_stop_when_the_master_dies(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, STEADY.replace("7s", "60s")),
        port,
        "--expect-workers",
        "1",
        "-H",
        server.url,
        "--heartbeat",
        "0.5",
        "--heartbeat-timeout",
        "2",
    )
    worker = _worker(port, empty)
    deadline = time.monotonic() + 15
    while server.count("/steady") < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(master.pid, signal.SIGKILL)
    killed = time.monotonic()
    code, _, err = _finish(worker, timeout=15)
    assert code == 3
    assert f"lost the master at 127.0.0.1:{port} (no heartbeat for 2s)" in err
    assert time.monotonic() - killed < 2 + 10 + 3  # heartbeat timeout + stop timeout
    master.communicate()


def test_a_wrong_token_is_refused(tmp_path: Path, server: CountingServer, empty: Path) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS),
        port,
        "--expect-workers",
        "1",
        "-H",
        server.url,
        "--token",
        "right-secret",
        "--expect-timeout",
        "4",
    )
    worker = _worker(port, empty, "--token", "wrong-secret", "--connect-timeout", "10")
    code, _, err = _finish(worker)
    assert code == 3
    assert f"could not authenticate with the master at 127.0.0.1:{port} (wrong --token?)" in err
    master_code, _, master_err = _finish(master)
    assert master_code == 3
    assert "only 0 of 1 worker(s) arrived within 4s" in master_err
    assert "wrong or missing token" in master_err
    assert server.total == 0


def test_a_worker_without_token_cannot_join_a_master_with_one(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    port = free_port()
    master = _master(
        _scenario(tmp_path, ITERATIONS),
        port,
        "--expect-workers",
        "1",
        "-H",
        server.url,
        "--token",
        "s3cret",
        "--expect-timeout",
        "4",
    )
    code, _, err = _finish(_worker(port, empty, "--connect-timeout", "10", token=None))
    assert code == 3 and "could not authenticate" in err and "this worker has no token" in err
    assert _finish(master)[0] == 3


def test_the_right_token_runs(tmp_path: Path, server: CountingServer, empty: Path) -> None:
    port = free_port()
    env_token = {"YAMLSWARM_TOKEN": "tok"}
    master = subprocess.Popen(
        [
            PY,
            "-m",
            "yamlswarm",
            "master",
            str(_scenario(tmp_path, ITERATIONS)),
            "--bind",
            f"127.0.0.1:{port}",
            "-q",
            "--expect-workers",
            "1",
            "-H",
            server.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_env(), **env_token},
    )
    worker = _worker(port, empty, "--token", "tok")
    code, out, err = _finish(master)
    assert code == 0, out + err
    assert "(token required)" in err
    assert _finish(worker)[0] == 0
    assert server.count("/hit") == 37


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    proc = _master(_scenario(tmp_path, ITERATIONS), free_port(), "--expect-workers", "1")
    proc.kill()
    proc.communicate()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "yamlswarm",
            "master",
            str(_scenario(tmp_path, ITERATIONS)),
            "--bind",
            "0.0.0.0:5557",
            "--expect-workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(token=None),
    )
    code, _, err = _finish(proc)
    assert code == 2
    assert "refusing to bind 0.0.0.0 without a token" in err
    assert "Traceback" not in err


def test_too_few_workers_exit_3(tmp_path: Path, server: CountingServer) -> None:
    port = free_port()
    code, _, err = _finish(
        _master(
            _scenario(tmp_path, ITERATIONS),
            port,
            "--expect-workers",
            "2",
            "-H",
            server.url,
            "--expect-timeout",
            "1",
        )
    )
    assert code == 3
    assert "only 0 of 2 worker(s) arrived within 1s (--expect-workers 2)" in err


def test_run_local_with_two_processes(tmp_path: Path, server: CountingServer) -> None:
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "yamlswarm",
            "run",
            str(_scenario(tmp_path, ITERATIONS)),
            "--processes",
            "2",
            "-H",
            server.url,
            "-q",
            "--iterations",
            "23",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    code, out, err = _finish(proc)
    assert code == 1, out + err  # the scenario's "requests == 37" fails: --iterations 23 won
    assert server.count("/hit") == 23
    assert "on 2 worker(s)" in out


def test_an_aborting_threshold_on_merged_numbers_stops_every_worker(
    tmp_path: Path, server: CountingServer, empty: Path
) -> None:
    scenario = (
        STEADY.replace("7s", "60s") + 'thresholds:\n  - {expr: "requests < 10", abort: true}\n'
    )
    port = free_port()
    started = time.monotonic()
    master = _master(_scenario(tmp_path, scenario), port, "--expect-workers", "2", "-H", server.url)
    workers = [_worker(port, empty) for _ in range(2)]
    code, out, err = _finish(master)
    assert code == 1, out + err
    assert "aborted: threshold 'requests < 10' failed" in out
    assert [_finish(w, timeout=15)[0] for w in workers] == [0, 0]
    assert time.monotonic() - started < 25  # not the scenario's 60 s


def test_hooks_run_in_workers_and_on_test_stop_on_the_master_with_the_merged_result(
    tmp_path: Path, server: CountingServer
) -> None:
    log = tmp_path / "hooks.log"
    scenario = _scenario(
        tmp_path, ITERATIONS.replace("name: dist\n", "name: dist\nhooks: hooks.py\n")
    )
    (scenario.parent / "hooks.py").write_text(
        "import os\n"
        "def _log(line):\n"
        "    with open(os.environ['HOOK_LOG'], 'a') as handle:\n"
        "        handle.write(line + '\\n')\n"
        "def on_user_start(user):\n"
        "    _log('user_start')\n"
        "def on_test_stop(ctx, result):\n"
        '    _log(f\'test_stop {ctx.role} {result and result["totals"]["requests"]}\')\n'
    )
    env = {**_env(), "HOOK_LOG": str(log)}
    proc = subprocess.Popen(
        [PY, "-m", "yamlswarm", "run", str(scenario), "--processes", "2", "-H", server.url, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    code, out, err = _finish(proc)
    assert code == 0, out + err
    lines = log.read_text().splitlines()
    assert lines.count("user_start") == 4  # in the workers, one per user
    # every process calls on_test_stop: the master with the merged result, workers with None
    stops = sorted(line for line in lines if line.startswith("test_stop"))
    assert stops == ["test_stop master 37", "test_stop worker None", "test_stop worker None"]
