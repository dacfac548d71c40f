"""Locust's CLI conventions: --exit-code-on-error, YAMLSWARM_* variables, config files."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import pytest

from tests.cli_helpers import REPO, cli_env, run_json, write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm.report.terminal import can_colour, can_redraw

SOME_FAIL = """
version: 1
name: some-fail
load: {iterations: 4, users: 1}
thresholds:
  - p99 < 10s
users:
  - flows:
      - steps:
          - get: /echo
          - get: /status/500
"""

NONE_FAIL = SOME_FAIL.replace("/status/500", "/echo?again=1")


@pytest.mark.parametrize("extra", [(), ("--processes", "1")], ids=["local", "master"])
def test_exit_code_on_error_when_a_request_failed(tmp_path, extra):
    with CountingServer() as server:
        run, result = run_json(tmp_path, SOME_FAIL, server.url, "--exit-code-on-error", "7", *extra)
        assert server.count("/status/500") == 4
    assert run.returncode == 7, run.stderr
    assert result is not None
    assert result["exit_code"] == 7
    assert result["totals"]["failures"] == 4


def test_exit_code_on_error_default_is_unchanged(tmp_path):
    with CountingServer() as server:
        run, _ = run_json(tmp_path, SOME_FAIL, server.url)
    assert run.returncode == 0, run.stderr


def test_exit_code_on_error_without_failures_is_0(tmp_path):
    with CountingServer() as server:
        run, _ = run_json(tmp_path, NONE_FAIL, server.url, "--exit-code-on-error", "7")
    assert run.returncode == 0, run.stderr


def test_a_failed_threshold_still_exits_1(tmp_path):
    text = SOME_FAIL.replace("p99 < 10s", "error_rate < 1%")
    with CountingServer() as server:
        run, _ = run_json(tmp_path, text, server.url, "--exit-code-on-error", "7")
    assert run.returncode == 1, run.stderr


def test_exit_code_on_error_is_checked(tmp_path):
    run = yamlswarm("run", tmp_path / "x.yaml", "--exit-code-on-error", "300")
    assert run.returncode == 2
    assert "--exit-code-on-error" in run.stderr
    assert "--exit-code-on-error" in yamlswarm("master", "--help").stdout


# ---------------------------------------------------------------- YAMLSWARM_<OPTION>

ECHO = """
version: 1
name: env-options
load: {iterations: 3, users: 1}
users:
  - flows:
      - steps:
          - get: "/echo?a={{ env.A }}&b={{ env.B }}"
"""


def test_every_run_option_from_the_environment(tmp_path):
    scenario = write_scenario(tmp_path, ECHO)
    out = tmp_path / "env.json"
    with CountingServer() as server:
        env = {
            "YAMLSWARM_HOST": server.url,
            "YAMLSWARM_ITERATIONS": "5",
            "YAMLSWARM_USERS": "2",
            "YAMLSWARM_ENV": "A=1 B=two",
            "YAMLSWARM_JSON": str(out),
            "YAMLSWARM_QUIET": "1",
            "YAMLSWARM_EXIT_CODE_ON_ERROR": "5",
        }
        run = yamlswarm("run", scenario, env=env)
        assert run.returncode == 0, run.stderr
        assert server.count("/echo") == 5
        assert server.last.query == {"a": ["1"], "b": ["two"]}
    result = json.loads(out.read_text())
    assert result["model"]["users"] == 2


def test_the_command_line_beats_the_environment(tmp_path):
    with CountingServer() as server:
        env = {
            "YAMLSWARM_HOST": "http://127.0.0.1:1",
            "YAMLSWARM_ITERATIONS": "9",
            "A": "",
            "B": "",
        }
        run, result = run_json(tmp_path, ECHO, server.url, "--iterations", "2", env=env)
        assert run.returncode == 0, run.stderr
        assert server.count("/echo") == 2
    assert result is not None and result["iterations"] == 2


def test_a_bad_value_in_the_environment_names_the_variable(tmp_path):
    scenario = write_scenario(tmp_path, ECHO)
    run = yamlswarm("run", scenario, env={"YAMLSWARM_USERS": "many"})
    assert run.returncode == 2
    assert "--users' (from the environment variable YAMLSWARM_USERS)" in run.stderr
    assert "Traceback" not in run.stderr


def test_help_shows_the_variables():
    for command in ("run", "master"):
        text = yamlswarm(command, "--help").stdout
        for name in ("YAMLSWARM_HOST", "YAMLSWARM_SPAWN_RATE", "YAMLSWARM_EXIT_CODE_ON_ERROR"):
            assert name in text, (command, name)
    assert "YAMLSWARM_EXPECT_WORKERS" in yamlswarm("master", "--help").stdout
    assert "YAMLSWARM_TOKEN" in yamlswarm("worker", "--help").stdout


# ---------------------------------------------------------------- config files

COUNT3 = ECHO.replace("{{ env.A }}", "x").replace("{{ env.B }}", "y")


def _run_in(tmp_path, *args, env=None):
    scenario = write_scenario(tmp_path, COUNT3)
    return yamlswarm("run", scenario, "-q", *args, cwd=tmp_path, env=env)


def test_pyproject_tool_table_gives_option_defaults(tmp_path):
    with CountingServer() as server:
        (tmp_path / "pyproject.toml").write_text(
            f'[project]\nname = "x"\n\n[tool.yamlswarm]\nhost = "{server.url}"\n'
            'iterations = 4\nspawn-rate = 50\njson = "out.json"\nenv = {A = "1"}\n'
        )
        run = _run_in(tmp_path)
        assert run.returncode == 0, run.stderr
        assert server.count("/echo") == 4  # the file beats the scenario's 3
    assert json.loads((tmp_path / "out.json").read_text())["iterations"] == 4


def test_yamlswarm_toml_wins_over_pyproject(tmp_path):
    with CountingServer() as server:
        (tmp_path / "pyproject.toml").write_text("[tool.yamlswarm]\niterations = 9\n")
        (tmp_path / "yamlswarm.toml").write_text(f'host = "{server.url}"\niterations = 2\n')
        run = _run_in(tmp_path)
        assert run.returncode == 0, run.stderr
        assert server.count("/echo") == 2


def test_precedence_cli_then_environment_then_file(tmp_path):
    with CountingServer() as server:
        (tmp_path / "yamlswarm.toml").write_text(
            'host = "http://127.0.0.1:1"\niterations = 7\nusers = 2\n'
        )
        env = {"YAMLSWARM_HOST": server.url, "YAMLSWARM_ITERATIONS": "5"}
        assert _run_in(tmp_path, env=env).returncode == 0
        assert server.count("/echo") == 5  # the environment beats the file
        server.reset()
        assert _run_in(tmp_path, "--iterations", "1", env=env).returncode == 0
        assert server.count("/echo") == 1  # the command line beats both


def test_unknown_keys_are_all_reported_with_did_you_mean(tmp_path):
    (tmp_path / "yamlswarm.toml").write_text("usrs = 3\nspawn_rat = 2\nhost = 'http://x'\n")
    run = _run_in(tmp_path)
    assert run.returncode == 2
    assert "yamlswarm.toml: 'usrs' is not an option of run or master (did you mean 'users'?)" in (
        run.stderr
    )
    assert "'spawn_rat' is not an option of run or master (did you mean 'spawn-rate'?)" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr


def test_bad_values_name_the_file_and_the_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.yamlswarm]\nduration = "forever"\nhost = ["a"]\nusers = 0\n'
    )
    run = _run_in(tmp_path)
    assert run.returncode == 2
    assert "pyproject.toml [tool.yamlswarm]: duration: 'forever' is not a duration" in run.stderr
    assert "pyproject.toml [tool.yamlswarm]: host: takes one value, not a list" in run.stderr
    assert "pyproject.toml [tool.yamlswarm]: users:" in run.stderr


def test_broken_toml_is_a_usage_error(tmp_path):
    (tmp_path / "yamlswarm.toml").write_text("users = 3\n[x\n")
    run = _run_in(tmp_path)
    assert run.returncode == 2
    assert "yamlswarm.toml: not valid TOML" in run.stderr and "Traceback" not in run.stderr


def test_other_commands_ignore_the_config_file(tmp_path):
    (tmp_path / "yamlswarm.toml").write_text("usrs = 3\n")
    scenario = write_scenario(tmp_path, COUNT3)
    assert yamlswarm("validate", scenario, cwd=tmp_path).returncode == 0


# ---------------------------------------------------------------- NO_COLOR, TERM=dumb


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "redraw", "colour"),
    [
        ({"TERM": "xterm"}, True, True),
        ({"TERM": "xterm", "NO_COLOR": "1"}, True, False),
        ({"TERM": "xterm", "NO_COLOR": ""}, True, True),  # no-color.org: only when not empty
        ({"TERM": "dumb"}, False, False),
        ({}, True, True),
    ],
)
def test_what_a_terminal_may_show(environ, redraw, colour):
    assert can_redraw(_Tty(), environ) is redraw
    assert can_colour(_Tty(), environ) is colour
    assert not can_redraw(io.StringIO(), environ) and not can_colour(io.StringIO(), environ)


def _on_a_pty(args, environ):
    """Run `yamlswarm ARGS` with its stdout on a pseudo-terminal; everything it wrote there."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "yamlswarm", *map(str, args)],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=cli_env(environ),
            cwd=REPO,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        return proc.returncode, b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(leader)


TIMED = """
version: 1
name: on-a-terminal
load: {users: 1, duration: 2500ms}
users:
  - flows:
      - steps:
          - get: /status/404
          - think: 100ms
"""


def test_a_dumb_terminal_gets_no_escapes_and_no_redraw(tmp_path):
    scenario = write_scenario(tmp_path, TIMED)
    with CountingServer() as server:
        code, text = _on_a_pty(["run", scenario, "-H", server.url], {"TERM": "xterm"})
        assert code == 0
        assert "\x1b[" in text  # a real terminal gets the dashboard redrawn in place
        code, text = _on_a_pty(["run", scenario, "-H", server.url], {"TERM": "dumb"})
        assert code == 0
        assert "\x1b" not in text and "busiest rows" not in text
        assert "404" in text  # the final table and error table are there


def test_no_color_turns_the_trace_colours_off(tmp_path):
    scenario = write_scenario(tmp_path, TIMED)
    with CountingServer() as server:
        _, text = _on_a_pty(["run", scenario, "-H", server.url, "--trace"], {"TERM": "xterm"})
        assert "\x1b[31m" in text
        environ = {"TERM": "xterm", "NO_COLOR": "1"}
        _, text = _on_a_pty(["run", scenario, "-H", server.url, "--trace"], environ)
        assert "\x1b" not in text and "404 Not Found" in text
