"""Outputs survive faults: written atomically, one failure said clearly, the others still written.

The full-disk cases mount a tiny tmpfs, which needs root; without it they are
skipped with the reason. The unwritable-directory case uses a read-only tmpfs
as root (root writes anywhere else) and a directory without write permission
otherwise.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm.errors import UsageError
from yamlswarm.report.files import open_for_write, write_csv, write_json
from yamlswarm.report.outputs import write_outputs
from yamlswarm.result import RunResult

OLD = '{"old": "result"}\n'
# 40 request rows make a JSON result of well over one 4 kB page, so a full disk shows
MANY_ROWS = "\n".join(f"          - get: /row/{n}" for n in range(40))
SCENARIO = f"""
version: 1
load: {{iterations: 1, users: 1}}
users:
  - flows:
      - steps:
{MANY_ROWS}
"""


def _result() -> RunResult:
    return RunResult("0.1.0", "shop", "2025-03-14T09:00:00.000Z", 1.0, {"kind": "closed"})


def _mount(directory: Path, *options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _unmount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def _fill(directory: Path) -> None:
    """Write until the file system is full (a bounded loop: the tmpfs is 64 kB)."""
    with open(directory / "filler", "wb", buffering=0) as handle:
        for _ in range(1000):
            try:
                handle.write(b"x" * 1024)
            except OSError:
                return
    raise AssertionError("the tmpfs did not fill up")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB tmpfs holding an old result.json (one page) and then filled up."""
    directory = tmp_path / "small"
    _mount(directory, "size=64k")
    try:
        (directory / "result.json").write_text(OLD)
        _fill(directory)
        yield directory
    finally:
        _unmount(directory)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "locked"
    if os.geteuid() != 0:
        directory.mkdir()
        (directory / "result.json").write_text(OLD)
        directory.chmod(0o500)
        yield directory
        directory.chmod(0o700)
        return
    _mount(directory, "size=64k")
    try:
        (directory / "result.json").write_text(OLD)
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
    finally:
        _unmount(directory)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_json_on_a_full_disk_is_a_clear_error_and_the_old_file_stays_whole(
    tmp_path: Path, full_disk: Path
) -> None:
    target = full_disk / "result.json"
    junit = tmp_path / "junit.xml"
    with CountingServer() as server:
        run = yamlswarm(
            "run",
            write_scenario(tmp_path, SCENARIO),
            "-H",
            server.url,
            "-q",
            "--json",
            target,
            "--junit",
            junit,
        )
    assert run.returncode == 2, run.stdout + run.stderr  # a passing run whose output failed
    assert "Traceback" not in run.stderr
    assert f"error: cannot write {target}: No space left on device" in run.stderr
    assert "Aggregated" in run.stdout  # the table came first
    assert target.read_text() == OLD  # not truncated: the new file never replaced it
    assert _leftovers(full_disk) == []
    assert junit.exists()  # the other output was written
    assert f"wrote junit: {junit}" in run.stderr


def test_every_writer_is_atomic_on_a_full_disk(full_disk: Path) -> None:
    err = io.StringIO()
    outputs = {
        "json": full_disk / "result.json",
        "csv": full_disk / "run",
        "html": full_disk / "report.html",
    }
    assert write_outputs(_result(), outputs, err) is False
    lines = err.getvalue().splitlines()
    assert len(lines) == 3 and all("No space left on device" in line for line in lines)
    assert (full_disk / "result.json").read_text() == OLD
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "result.json"]


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path, read_only: Path) -> None:
    target = read_only / "result.json"
    with CountingServer() as server:
        run = yamlswarm(
            "run", write_scenario(tmp_path, SCENARIO), "-H", server.url, "-q", "--json", target
        )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"error: cannot write {target}: " in run.stderr
    assert target.read_text() == OLD
    with pytest.raises(UsageError, match="cannot write"):
        write_csv(_result(), read_only / "run")


def test_a_failed_threshold_stays_exit_1_when_an_output_fails(
    tmp_path: Path, read_only: Path
) -> None:
    scenario = write_scenario(tmp_path, SCENARIO + 'thresholds: ["requests > 1000"]\n')
    with CountingServer() as server:
        run = yamlswarm("run", scenario, "-H", server.url, "-q", "--json", read_only / "r.json")
    assert run.returncode == 1
    assert "cannot write" in run.stderr and "Traceback" not in run.stderr


def test_a_write_replaces_the_file_in_one_step_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text(OLD)
    target.chmod(0o640)
    write_json(_result(), target)
    assert json.loads(target.read_text())["scenario"] == "shop"
    assert target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_an_error_while_writing_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text(OLD)
    with pytest.raises(RuntimeError), open_for_write(target) as out:
        out.write("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_a_writer_that_fails_unexpectedly_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yamlswarm.report.files as files

    def broken(result: RunResult, path: Path) -> None:
        raise TypeError("not serialisable")

    monkeypatch.setattr(files, "write_json", broken)
    err = io.StringIO()
    outputs = {"json": tmp_path / "r.json", "junit": tmp_path / "j.xml"}
    assert write_outputs(_result(), outputs, err) is False
    first, second = err.getvalue().splitlines()
    assert first.startswith(f"error: cannot write --json {tmp_path / 'r.json'}: internal error")
    assert second == f"wrote junit: {tmp_path / 'j.xml'}"
