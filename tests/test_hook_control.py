"""Hooks that decide and hooks that misbehave, in real runs: StopUser / StopTest from any
hook, SystemExit / KeyboardInterrupt contained, threads left running not waited for."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_json, yamlswarm
from tests.servers import CountingServer

LOG_HELPER = """
import os

def _log(event):
    with open(os.environ["HOOK_LOG"], "a") as handle:
        handle.write(event + "\\n")

def on_user_stop(user):
    _log(f"user_stop {user.id}")
"""

# which hook raises, the code it runs, and the requests each of the 2 users makes
STOP_USER_CASES = {
    "call": (
        "def check(user):\n    if user.vars['iteration'] >= 2:\n        raise StopUser('enough')\n",
        2,
    ),
    "on_user_start": ("def on_user_start(user):\n    raise StopUser('enough')\n", 0),
    "before_request": (
        "def before_request(request, user):\n"
        "    if user.vars['iteration'] >= 2:\n"
        "        raise StopUser('enough')\n",
        1,  # the second request is never sent
    ),
    "after_response": (
        "def after_response(response, user):\n"
        "    if user.vars['iteration'] >= 2:\n"
        "        raise StopUser('enough')\n",
        2,  # the second is sent, counted, then the user stops
    ),
}

SCENARIO = """
version: 1
name: hook-control
hooks: hooks.py
load: {users: 2, spawn_rate: 100/s, duration: 30s}
users:
  - flows:
      - steps:
          - get: /echo/work
          - call: check
"""

NO_CHECK = "def check(user):\n    pass\n"


def _hooks(tmp_path: Path, code: str) -> dict[str, str]:
    body = "from yamlswarm.api import StopTest, StopUser\n" + LOG_HELPER + "\n" + code
    if "def check(" not in code:
        body += "\n" + NO_CHECK
    (tmp_path / "hooks.py").write_text(body)
    log = tmp_path / "hooks.log"
    log.write_text("")
    return {"HOOK_LOG": str(log)}


def _log(tmp_path: Path) -> list[str]:
    return (tmp_path / "hooks.log").read_text().splitlines()


@pytest.mark.parametrize("hook", list(STOP_USER_CASES))
def test_stop_user_from_a_hook_stops_that_user_gracefully(tmp_path: Path, hook: str) -> None:
    code, per_user = STOP_USER_CASES[hook]
    env = _hooks(tmp_path, code)
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(tmp_path, SCENARIO, server.url, env=env)
        took = time.monotonic() - started
        served = server.count("/echo/work")
    assert run.returncode == 0, run.stdout + run.stderr
    assert took < 20  # every user stopped: the run ended long before its 30 s
    assert result is not None and served == 2 * per_user == result["totals"]["requests"]
    assert result["users_stopped"] == {"enough": 2}
    assert sorted(_log(tmp_path)) == ["user_stop 1", "user_stop 2"]  # on_user_stop ran
    assert "users stopped: 2 (enough)" in run.stdout
    assert "Traceback" not in run.stderr


STOP_TEST_CASES = {
    "call": "def check(user):\n    if user.vars['iteration'] >= 3:\n        raise StopTest('why: 3 done')\n",
    "after_response": (
        "def after_response(response, user):\n"
        "    if user.vars['iteration'] >= 3:\n"
        "        raise StopTest(reason='why: 3 done')\n"
    ),
    "before_request": (
        "def before_request(request, user):\n"
        "    if user.vars['iteration'] >= 3:\n"
        "        raise StopTest('why: 3 done')\n"
    ),
    "on_user_start": "def on_user_start(user):\n    raise StopTest('why: 3 done')\n",
}


@pytest.mark.parametrize("hook", list(STOP_TEST_CASES))
def test_stop_test_from_a_hook_ends_the_run_with_its_reason_and_outputs(
    tmp_path: Path, hook: str
) -> None:
    env = _hooks(tmp_path, STOP_TEST_CASES[hook])
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(tmp_path, SCENARIO, server.url, env=env)
        took = time.monotonic() - started
        served = server.count("/echo/work")
    assert run.returncode == 0, run.stdout + run.stderr  # as a `stop: test` step gives
    assert took < 20
    assert result is not None and result["test_stopped"] == "why: 3 done"
    assert result["totals"]["requests"] == served
    assert "test stopped (why: 3 done)" in run.stdout
    assert sorted(_log(tmp_path)) == ["user_stop 1", "user_stop 2"]


def test_stop_test_from_a_worker_stops_every_worker(tmp_path: Path) -> None:
    code = (
        "def check(user):\n"
        "    if user.id == 1 and user.vars['iteration'] >= 3:\n"
        "        raise StopTest()\n"
    )
    env = _hooks(tmp_path, code)
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(tmp_path, SCENARIO, server.url, "--processes", "2", env=env)
        took = time.monotonic() - started
        served = server.count("/echo/work")
    assert run.returncode == 0, run.stdout + run.stderr
    assert took < 25  # not the scenario's 30 s: the master stopped the other worker too
    assert result is not None and result["test_stopped"] == "check raised StopTest"
    assert result["totals"]["requests"] == served
    assert sorted(_log(tmp_path)) == ["user_stop 1", "user_stop 1"]  # one user per worker


# hooks that try to end the process, and where their failure shows
ESCAPE_CASES = {
    "call": ("def check(user):\n    raise SystemExit(3)\n", "SystemExit(3) in check"),
    "before_request": (
        "def before_request(request, user):\n    raise KeyboardInterrupt()\n",
        "KeyboardInterrupt() in before_request",
    ),
    "after_response": (
        "def after_response(response, user):\n    raise SystemExit('bye')\n",
        "SystemExit('bye') in after_response",
    ),
    "on_user_start": (
        "def on_user_start(user):\n    raise SystemExit(4)\n",
        "SystemExit(4) in on_user_start",
    ),
    "on_user_stop": (
        "def on_user_stop(user):\n    _log('user_stop')\n    raise SystemExit(5)\n",
        "SystemExit(5) in on_user_stop",
    ),
    "on_test_start": (
        "def on_test_start(ctx):\n    raise KeyboardInterrupt()\n",
        "KeyboardInterrupt() in on_test_start",
    ),
    "on_test_stop": (
        "def on_test_stop(ctx, result):\n    raise SystemExit(6)\n",
        "SystemExit(6) in on_test_stop",
    ),
    "template_functions": (
        "def template_functions():\n    return {'boom': _boom}\n\n"
        "def _boom():\n    raise SystemExit(7)\n",
        "SystemExit(7) in boom",
    ),
}

ESCAPE_SCENARIO = """
version: 1
hooks: hooks.py
load: {iterations: 4, users: 2}
users:
  - flows:
      - steps:
          - get: /echo/work
            name: work
          - call: check
"""


@pytest.mark.parametrize("hook", list(ESCAPE_CASES))
def test_a_hook_that_exits_is_recorded_as_its_failure_not_an_exit(
    tmp_path: Path, hook: str
) -> None:
    code, message = ESCAPE_CASES[hook]
    env = _hooks(tmp_path, code)
    scenario = ESCAPE_SCENARIO
    if hook == "template_functions":
        scenario = scenario.replace(
            "name: work\n", 'name: work\n            headers: {X-Boom: "{{ boom() }}"}\n'
        )
    with CountingServer() as server:
        run, result = run_json(tmp_path, scenario, server.url, env=env)
        served = server.count("/echo/work")
    assert run.returncode == 0, run.stdout + run.stderr  # the run finished normally
    assert result is not None, run.stderr  # and wrote its outputs
    assert "a hook cannot end the process" in run.stderr + run.stdout
    assert message in run.stderr + run.stdout, run.stderr
    assert "Name " in run.stdout  # the final table was printed
    errors = {(e["name"], e["error"]): e["count"] for e in result["errors"]}
    if hook in ("call", "before_request", "after_response", "template_functions"):
        row = "check" if hook == "call" else "work"
        text = next(error for (name, error) in errors if name == row)
        assert message in text and "a hook cannot end the process" in text
        assert errors[(row, text)] == 4  # each of the 4 iterations
    # before_request and the template fail the request before it is sent
    assert served == (0 if hook in ("before_request", "template_functions") else 4)


THREAD_HOOKS = """
import threading, time

class Ticker(threading.Thread):
    def run(self):
        while True:
            time.sleep(0.1)

def _poll():
    while True:
        time.sleep(0.1)

def on_test_start(ctx):
    threading.Thread(target=_poll, name="poller").start()

def check(user):
    if user.id == 1 and user.vars["iteration"] == 1:
        Ticker(name="ticker", daemon=False).start()  # (from a user it would be a daemon)

def on_test_stop(ctx, result):
    if result is not None:
        ctx.exit_code = 4
"""


@pytest.mark.parametrize("processes", [None, "2"])
def test_threads_left_by_hooks_are_named_and_do_not_keep_the_process_alive(
    tmp_path: Path, processes: str | None
) -> None:
    (tmp_path / "hooks.py").write_text(THREAD_HOOKS)
    scenario = SCENARIO.replace(
        "{users: 2, spawn_rate: 100/s, duration: 30s}", "{iterations: 6, users: 2}"
    )
    extra = ("--processes", processes) if processes else ()
    with CountingServer() as server:
        started = time.monotonic()
        run, result = run_json(tmp_path, scenario, server.url, *extra)
        took = time.monotonic() - started
        served = server.count("/echo/work")
    assert run.returncode == 4, run.stdout + run.stderr  # on_test_stop's exit code survives
    assert took < 30
    assert result is not None and result["totals"]["requests"] == served == 6
    warnings = [line for line in run.stderr.splitlines() if "non-daemon thread" in line]
    assert all("exiting without waiting" in w for w in warnings), run.stderr
    poller = [w for w in warnings if "'poller' (" in w and "hooks.py:" in w and "_poll" in w]
    ticker = [w for w in warnings if "'ticker' (" in w and "hooks.py:" in w]
    if processes is None:
        assert len(warnings) == 1 and warnings == poller == ticker, run.stderr
        assert "2 non-daemon threads" in warnings[0]
    else:  # the master's own (its on_test_start); each worker's, unless the master's end
        # terminated it first (run --processes stops its workers once the results are out)
        own = [w for w in poller if str(tmp_path) in w and "'ticker'" not in w]
        assert len(own) == 1, run.stderr
        assert all("yamlswarm-bundle-" in w for w in ticker), run.stderr


def test_a_hook_module_that_exits_at_import_is_an_import_failure(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text("import sys\nsys.exit(3)\n")
    scenario = ESCAPE_SCENARIO.replace("          - call: check\n", "")
    with CountingServer() as server:
        run, result = run_json(tmp_path, scenario, server.url)
        validate = yamlswarm("validate", tmp_path / "scenario.yaml")
    assert run.returncode == 3 and result is None  # the run could not start: SPEC exit 3
    assert "hook module 'hooks.py' failed to import" in run.stderr
    assert "sys.exit(3)" in run.stderr and "SystemExit: 3" in run.stderr  # the user's frame
    assert validate.returncode == 2
    assert "failed to import: SystemExit: 3" in validate.stdout + validate.stderr
