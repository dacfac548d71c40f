"""The event-loop watchdog (runtime/watchdog.py): a hook that blocks the loop is named,
the duration and Ctrl-C still end the run with the results written, and Ctrl-C at any
moment of start-up ends the process cleanly. Real subprocesses against a real server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.cli_helpers import REPO, cli_env, start_yamlswarm, write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm.runtime.watchdog import describe_block

SPIN_HOOK = """
import time

def spin(user):
    end = time.perf_counter() + 300
    while time.perf_counter() < end:  # never yields to the event loop
        pass
"""

SCENARIO = """
version: 1
hooks: hooks/spin.py
load: {users: 2, spawn_rate: 100, duration: DURATION}
users:
  - flows:
      - steps:
          - get: /ping
          - think: 100ms
          - call: spin
"""


def _spinning(tmp_path, duration: str = "2s"):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "spin.py").write_text(textwrap.dedent(SPIN_HOOK), encoding="utf-8")
    return write_scenario(tmp_path, SCENARIO.replace("DURATION", duration))


def test_a_hook_that_blocks_the_loop_is_named_and_the_run_still_ends(tmp_path):
    scenario = _spinning(tmp_path)
    out = tmp_path / "r.json"
    with CountingServer() as server:
        done = yamlswarm(
            "run", scenario, "--host", server.url, "--json", out, "-q", "--stop-timeout", "1s",
            timeout=30,  # duration 2 s + stop timeout 1 s + the watchdog's poll: far below this
        )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "the event loop was blocked" in done.stderr
    assert "hooks/spin.py:6 in spin (in a `call:` step)" in done.stderr
    assert "past the end of the run" in done.stderr
    result = json.loads(out.read_text())
    assert result["totals"]["requests"] == server.total  # what arrived was counted


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_ends_a_blocked_run_with_its_results(tmp_path, presses):
    scenario = _spinning(tmp_path, duration="5m")
    out = tmp_path / "r.json"
    stop_timeout = "2s" if presses == 1 else "60s"  # twice: no waiting for the stop timeout
    with CountingServer() as server:
        proc = start_yamlswarm(
            "run", scenario, "--host", server.url, "--json", out, "-q", "--stop-timeout", stop_timeout
        )  # fmt: skip
        time.sleep(2.5)  # the users are inside the spinning hook by now
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
        pressed = time.monotonic()
        _stdout, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - pressed
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    if presses == 2:
        assert "interrupted twice" in stderr
        assert took < 4  # within 2 s of the second Ctrl-C, plus writing the results
    else:
        assert "still blocked 2 s after Ctrl-C" in stderr
    assert json.loads(out.read_text())["interrupted"] is True


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
def test_ctrl_c_during_start_up_is_clean(tmp_path, delay):
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {users: 2, duration: 5s}
        users:
          - flows:
              - steps:
                  - get: /ping
        """,
    )
    # `delay` counts from when the interpreter is up (its `site` import done, as -X importtime
    # reports): a SIGINT inside CPython's own initialisation is a fatal error of CPython's,
    # before any code of ours can run
    command = [sys.executable, "-X", "importtime", "-m", "yamlswarm", "run", str(scenario)]
    with CountingServer() as server:
        proc = subprocess.Popen(
            [*command, "--host", server.url, "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO,
        )  # fmt: skip
        lines: list[str] = []
        up = threading.Event()

        def read() -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if line.rstrip().endswith("| site"):
                    up.set()
            up.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert up.wait(20), "the interpreter did not start"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(10)
    stderr = "".join(line for line in lines if not line.startswith("import time:"))
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr


def test_describe_block_names_the_users_code_and_the_step_around_it():
    assert describe_block(None) == "unknown code"
    frame = sys._getframe()
    assert describe_block(frame).startswith("tests/test_watchdog.py:")
