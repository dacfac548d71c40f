"""What the target sends never reaches the terminal raw: control characters are shown escaped.

A hostile server answers with a body that clears the screen, moves the cursor
home, overwrites the line with a fake "ALL THRESHOLDS PASSED" and rings the
bell; the final table, the live view and `--trace` show it escaped.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from yamlswarm.report.live import LiveProgress
from yamlswarm.report.table import render
from yamlswarm.report.terminal import one_line, printable
from yamlswarm.result import ErrorResult, LiveRow, LiveView, RunResult

FAKE = "ALL THRESHOLDS PASSED"
HOSTILE_BODY = f"\x1b[2J\x1b[H\r{FAKE}\n\x07\x9b31m".encode()
SCENARIO = """
version: 1
load: {iterations: 1, users: 1}
users:
  - flows:
      - steps:
          - get: /x
            check: {body_contains: "never there"}
thresholds: ["error_rate < 1%"]
"""


class HostileServer:
    """Answers every request with a 500 whose body and header hold raw escape sequences."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        head = (
            b"HTTP/1.1 500 Internal Server Error\r\n"
            b"Content-Type: text/plain\r\n"
            b"X-Evil: \x1b]0;pwned\x07\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n"
        )
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(head % len(HOSTILE_BODY) + HOSTILE_BODY)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


def _no_fake_line(text: str) -> None:
    for line in text.replace("\r", "\n").split("\n"):
        assert not line.startswith(FAKE), repr(line)


def test_the_final_table_shows_a_hostile_response_escaped(
    tmp_path: Path, hostile: HostileServer
) -> None:
    run = yamlswarm("run", write_scenario(tmp_path, SCENARIO), "-H", hostile.url, "-q")
    assert run.returncode == 1, run.stdout + run.stderr  # the threshold really failed
    text = run.stdout + run.stderr
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\r" not in text
    assert "HTTP 500: \\x1b[2J\\x1b[H " + FAKE in run.stdout  # escaped, on one line
    _no_fake_line(text)


def test_trace_shows_a_hostile_response_escaped(tmp_path: Path, hostile: HostileServer) -> None:
    run = yamlswarm("run", write_scenario(tmp_path, SCENARIO), "-H", hostile.url, "--trace", "1")
    text = run.stdout + run.stderr
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text, repr(text)
    assert "body (" in run.stdout and "\\x1b[2J\\x1b[H\\r" + FAKE in run.stdout
    assert "< X-Evil: \\x1b]0;pwned\\x07" in run.stdout
    _no_fake_line(text)


def test_a_log_step_prints_the_targets_bytes_escaped(
    tmp_path: Path, hostile: HostileServer
) -> None:
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {iterations: 1, users: 1}
        users:
          - flows:
              - steps:
                  - get: /x
                    extract: {page: {regex: "(?s)(.*)"}}
                  - log: "got {{ page }}"
        """,
    )
    run = yamlswarm("run", scenario, "-H", hostile.url, "-q")
    text = run.stdout + run.stderr
    assert "got \\x1b[2J\\x1b[H" in run.stderr, run.stderr
    assert "\x1b" not in text and "\x07" not in text, repr(text)


def _result_with(error: str, example: str) -> RunResult:
    result = RunResult("0.1.0", "shop", "2025-03-14T09:00:00.000Z", 1.0, {"kind": "closed"})
    result.errors = [ErrorResult("/x\x1b[1m", "GET", error, 3, 0.0, 1.0, example)]
    return result


def test_every_cell_of_the_error_table_is_escaped() -> None:
    text = render(_result_with("check failed: \x1b[2J\rok", "HTTP 500: \x1b[2J\x07"))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "GET /x\\x1b[1m" in text and "check failed: \\x1b[2J\\rok" in text
    assert "HTTP 500: \\x1b[2J\\x07" in text


def test_the_live_view_shows_row_names_escaped() -> None:
    out = io.StringIO()
    progress = LiveProgress(out, interactive=True, quiet=False, width=200, height=40)
    view = LiveView(
        1.0, 10.0, 1, 1.0, 1, 0, 1.0, 1.0, 1.0, top_rows=[LiveRow("/x\x1b[2J\r", "GET", 1, 0, 1.0)]
    )
    lines = progress.dashboard(view)
    assert any("GET /x\\x1b[2J\\r" in line for line in lines)
    assert not any("\x1b" in line or "\r" in line for line in lines)


@pytest.mark.parametrize(
    "text, line, multi",
    [
        ("plain é ✓", "plain é ✓", "plain é ✓"),
        ("a\x1b[2Jb", "a\\x1b[2Jb", "a\\x1b[2Jb"),
        ("cr\rlf\ntab\t", "cr\\rlf\\ntab\\t", "cr\\rlf\ntab\t"),
        ("bell\x07 del\x7f c1\x9b", "bell\\x07 del\\x7f c1\\x9b", "bell\\x07 del\\x7f c1\\x9b"),
        ("rtl\u202eevil\u2028", "rtl\\u202eevil\\u2028", "rtl\\u202eevil\\u2028"),
    ],
)
def test_control_characters_are_escaped(text: str, line: str, multi: str) -> None:
    assert one_line(text) == line
    assert printable(text) == multi
