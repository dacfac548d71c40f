"""The public hook API (`yamlswarm.api`): typed for hook authors, the same `ctx` in every
kind of run, `on_test_stop` deciding the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, cli_env, run_json, write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm import api
from yamlswarm.runtime import signals

# A hook module as an author writes it, every object of the API used as documented.
GOOD_HOOKS = """
from __future__ import annotations

import time
from typing import Any

from yamlswarm.api import Request, Response, StopTest, StopUser, TestContext, User

_started: dict[str, float] = {}


def on_test_start(ctx: TestContext) -> None:
    _started["t"] = time.monotonic()
    name: str = ctx.scenario
    host: str | None = ctx.host
    users: Any = ctx.settings.get("users")
    if ctx.role == "worker" and ctx.workers > 1:
        print(name, host, users)


def on_test_stop(ctx: TestContext, result: dict[str, Any] | None) -> None:
    if result is not None and result["totals"]["failures"] > 0:
        ctx.exit_code = 4
    if ctx.exit_code == 0 and ctx.result is not None:
        print(ctx.result["totals"]["requests"])


def on_user_start(user: User) -> None:
    user.vars["token"] = f"user-{user.id}-{user.name}"
    if user.rng.random() < 0.0:
        raise StopUser("never")


def on_user_stop(user: User) -> None:
    user.vars.clear()


def before_request(request: Request, user: User) -> None:
    request.headers["X-Token"] = str(user.vars["token"])
    request.url = request.url + "?signed=1"
    request.method = request.method.upper()
    if request.name == "skip":
        request.body = "text bodies are encoded"


def after_response(response: Response, user: User) -> None:
    if response.status >= 500 or response.error is not None:
        response.fail(f"{response.method} {response.url} answered {response.status}")
    elif response.headers.get("content-type", "").startswith("application/json"):
        user.vars["last"] = response.json()
    seconds: float = response.elapsed
    if seconds > 10 and "retry-after" in response.headers:
        raise StopTest(f"{response.name} overloaded: {response.text[:20]}")


def checkout(user: User) -> None:
    reply = user.request(
        "POST", "/orders", name="order", json={"sku": 1}, headers={"X-A": "1"}, timeout=5.0
    )
    if reply.status != 201:
        raise StopUser()
    user.request("GET", "/orders", params={"page": 2}, body=b"", timeout=None)
    with user.measure("publish", kind="MQTT"):
        pass
    user.record("SQL", "select orders", 0.002, error=None, size=120)
    user.metrics["orders_created"].add()
    user.metrics["order_value"].add(12.5)
"""

# Each a mistake mypy must catch in a hook module (and the words of its message).
WRONG_USES = {
    "assign_vars": ("def f(user: User) -> None:\n    user.vars = 1\n", "vars"),
    "status_plus_str": (
        "def f(response: Response) -> None:\n    print(response.status + 'x')\n",
        "Unsupported operand",
    ),
    "internal_attribute": (
        "def f(user: User) -> None:\n    user.transport.close()\n",
        "transport",
    ),
    "request_positional_name": (
        "def f(user: User) -> None:\n    user.request('GET', '/', 'row')\n",
        "positional",
    ),
    "exit_code_text": (
        "def f(ctx: TestContext) -> None:\n    ctx.exit_code = 'fail'\n",
        "Incompatible types in assignment",
    ),
}


def _mypy(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return _mypy_files([path])


def _mypy_files(paths: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "MYPYPATH": str(REPO)}  # the editable install hides the package
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths[0].parent,
        timeout=300,
    )


def test_a_hook_module_written_against_the_api_passes_mypy_strict(tmp_path: Path) -> None:
    run = _mypy(tmp_path, "good_hooks", GOOD_HOOKS)
    assert run.returncode == 0, run.stdout + run.stderr


def test_wrong_uses_of_the_api_fail_mypy(tmp_path: Path) -> None:
    lines = ["from yamlswarm.api import Response, TestContext, User", ""]
    wrong_line = {}
    for name, (code, _) in WRONG_USES.items():
        lines.append(code.splitlines()[0].replace("def f(", f"def {name}("))
        wrong_line[name] = len(lines) + 1  # the body's line, 1-based
        lines.extend(code.splitlines()[1:])
    run = _mypy(tmp_path, "bad_hooks", "\n".join(lines) + "\n")
    assert run.returncode == 1, run.stdout
    for name, (_, words) in WRONG_USES.items():
        errors = [x for x in run.stdout.splitlines() if f"bad_hooks.py:{wrong_line[name]}:" in x]
        assert any(words in x for x in errors), (name, run.stdout)


def test_the_package_ships_py_typed() -> None:
    assert (REPO / "yamlswarm" / "py.typed").is_file()
    package_data = (REPO / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1]
    assert package_data.splitlines()[1].startswith('yamlswarm = ["py.typed", ')


def test_the_stop_signals_are_the_runtimes_own_and_the_api_imports_no_gevent() -> None:
    assert api.StopUser is signals.StopUser and api.StopTest is signals.StopTest
    assert api.StopTest().reason is None and api.StopTest(reason="why").reason == "why"
    code = "import sys, yamlswarm.api; print(sorted(m for m in ('gevent', 'zmq', 'yaml') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_exit_code_accepts_only_exit_codes() -> None:
    ctx = api.TestContext("s", None, {})
    assert ctx.exit_code is None
    ctx.exit_code = 7
    assert ctx.exit_code == 7
    for wrong in (256, -1, "1", True, 1.0):
        with pytest.raises(ValueError, match="exit_code must be an integer from 0 to 255"):
            ctx.exit_code = wrong  # type: ignore[assignment]


CTX_HOOKS = """
import json, os

def _log(event, **data):
    with open(os.environ["HOOK_LOG"], "a") as handle:
        handle.write(json.dumps({"event": event, **data}) + "\\n")

def _ctx(ctx):
    return {"scenario": ctx.scenario, "host": ctx.host, "role": ctx.role,
            "process": f"{os.getpid()}:{id(ctx)}",
            "workers": ctx.workers, "users": ctx.settings["users"],
            "iterations": ctx.settings["iterations"]}

def on_test_start(ctx):
    _log("start", result=ctx.result, exit_code=ctx.exit_code, **_ctx(ctx))

def on_test_stop(ctx, result):
    same = result is ctx.result
    totals = None if result is None else result["totals"]["requests"]
    _log("stop", requests=totals, same=same, exit_code=ctx.exit_code, **_ctx(ctx))
    try:
        ctx.settings["users"] = 1
    except TypeError:
        _log("settings read only")
    if result is not None:
        ctx.exit_code = int(os.environ.get("WANTED_EXIT", "0"))
"""

CTX_SCENARIO = """
version: 1
name: ctx-check
hooks: hooks.py
load: {iterations: 12, users: 2}
users:
  - flows:
      - steps:
          - get: /echo/ctx
"""


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_local_run_hands_the_test_hooks_its_context_and_honours_exit_code(
    tmp_path: Path,
) -> None:
    (tmp_path / "hooks.py").write_text(CTX_HOOKS)
    log = tmp_path / "hooks.log"
    with CountingServer() as server:
        env = {"HOOK_LOG": str(log), "WANTED_EXIT": "5"}
        run, result = run_json(tmp_path, CTX_SCENARIO, server.url, "-u", "2", env=env)
        served = server.count("/echo/ctx")
    assert run.returncode == 5, run.stdout + run.stderr  # the hook's exit code
    assert result is not None and result["exit_code"] == 5  # the JSON says so too
    start, stop, read_only = _events(log)
    common = {"scenario": "ctx-check", "host": server.url, "role": "local", "workers": 0}
    assert (
        start.items()
        >= {
            "event": "start",
            "result": None,
            "exit_code": None,
            **common,
            "users": 2,
            "iterations": None,
        }.items()
    )
    assert stop["requests"] == served == 12 and stop["same"] is True
    assert stop["exit_code"] == 0 and stop.items() >= common.items()
    assert stop["process"] == start.pop("process")  # the same object at start and stop
    assert read_only == {"event": "settings read only"}


def test_processes_run_the_test_hooks_on_the_master_and_each_worker(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(CTX_HOOKS)
    log = tmp_path / "hooks.log"
    with CountingServer() as server:
        env = {"HOOK_LOG": str(log), "WANTED_EXIT": "6"}
        run, result = run_json(tmp_path, CTX_SCENARIO, server.url, "--processes", "2", env=env)
        served = server.count("/echo/ctx")
    assert run.returncode == 6, run.stdout + run.stderr
    assert result is not None and result["exit_code"] == 6
    events = _events(log)
    starts = sorted(e["role"] for e in events if e["event"] == "start")
    assert starts == ["master", "worker", "worker"]
    stops = {e["role"]: e for e in events if e["event"] == "stop"}
    assert stops["master"]["requests"] == served == 12  # the merged result
    assert stops["master"]["workers"] == 2 and stops["worker"]["workers"] == 2
    assert stops["worker"]["requests"] is None  # workers hold no whole result
    assert {e["scenario"] for e in events if "scenario" in e} == {"ctx-check"}
    # one context per process, the same object at its start and at its stop
    per_process = Counter(e["process"] for e in events if "process" in e)
    assert len(per_process) == 3 and set(per_process.values()) == {2}


def test_a_master_and_two_workers_hand_the_hooks_the_same_context(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(CTX_HOOKS)
    log = tmp_path / "hooks.log"
    scenario = write_scenario(tmp_path, CTX_SCENARIO)
    out = tmp_path / "result.json"
    env = cli_env({"HOOK_LOG": str(log), "WANTED_EXIT": "0", "YAMLSWARM_TOKEN": "t0ken-t0ken"})
    with CountingServer() as server:
        port = _free_port()
        command = [sys.executable, "-m", "yamlswarm"]
        master = subprocess.Popen(
            [
                *command,
                "master",
                str(scenario),
                "-H",
                server.url,
                "--expect-workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--json",
                str(out),
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        workers = [
            subprocess.Popen(
                [*command, "worker", "--master", f"127.0.0.1:{port}", "-q"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            for _ in range(2)
        ]
        try:
            m_out, m_err = master.communicate(timeout=90)
            codes = [w.wait(timeout=30) for w in workers]
        finally:
            for proc in (master, *workers):
                if proc.poll() is None:
                    proc.kill()
        served = server.count("/echo/ctx")
    assert master.returncode == 0 and codes == [0, 0], m_out + m_err
    stops = {e["role"]: e for e in _events(log) if e["event"] == "stop"}
    assert (
        stops["master"]["requests"] == served == json.loads(out.read_text())["totals"]["requests"]
    )
    assert stops["master"]["workers"] == 2 and stops["worker"]["role"] == "worker"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_hook_docs_examples_are_typed(tmp_path: Path) -> None:
    """Every Python block of docs/hooks.md passes mypy --strict (they are what authors copy)."""
    blocks = _python_blocks(REPO / "docs" / "hooks.md")
    assert len(blocks) >= 8
    paths = []
    for index, block in enumerate(blocks):
        paths.append(tmp_path / f"doc_block_{index}.py")
        paths[-1].write_text(block)
    run = _mypy_files(paths)
    assert run.returncode == 0, run.stdout


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    parts = text.split("```python\n")[1:]
    return [textwrap.dedent(part.split("```", 1)[0]) for part in parts]


def test_yamlswarm_validate_accepts_a_typed_hook_module(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(GOOD_HOOKS)
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        hooks: hooks.py
        host: http://127.0.0.1:9
        users:
          - flows:
              - steps:
                  - call: checkout
        """,
    )
    run = yamlswarm("validate", scenario)
    assert run.returncode == 0, run.stdout + run.stderr


CONFORMANCE = """
from yamlswarm import api
from yamlswarm.runtime.hook_calls import HookRequest
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.user import VirtualUser


def response(x: Response) -> api.Response:
    return x


def request(x: HookRequest) -> api.Request:
    return x
"""

USER_CONFORMANCE = """

def user(x: VirtualUser) -> api.User:
    return x
"""


def _conforms(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "conformance.py"
    path.write_text(text)
    env = {**os.environ, "MYPYPATH": str(REPO)}
    command = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-incremental"]
    return subprocess.run(
        [*command, "--ignore-missing-imports", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_the_objects_hooks_are_handed_satisfy_the_api(tmp_path: Path) -> None:
    """The runtime's own response and request are what the protocols promise (mypy checks
    the structure, members and types, as it would for a hook author)."""
    run = _conforms(tmp_path, CONFORMANCE)
    assert run.returncode == 0, run.stdout


def test_the_virtual_user_satisfies_the_api_user(tmp_path: Path) -> None:
    run = _conforms(tmp_path, CONFORMANCE + USER_CONFORMANCE)
    assert run.returncode == 0, run.stdout
