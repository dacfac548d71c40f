"""CSV data files: a FIFO, a device or a huge file is a located error, never a hang."""

from __future__ import annotations

import os

import pytest

from tests.test_compiler import compile_text
from yamlswarm.compiler.sections import MAX_CSV_BYTES
from yamlswarm.errors import ScenarioError

FLOW = "users:\n  - flows:\n      - steps:\n          - get: /x\n"


def _problems(tmp_path, csv: str) -> list[tuple[str, str, int]]:
    with pytest.raises(ScenarioError) as info:
        compile_text(tmp_path, f"data:\n  accounts: {{csv: {csv}}}\n" + FLOW)
    return [(p.dotted_path, p.message, p.line) for p in info.value.problems]


def test_a_fifo_csv_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    assert _problems(tmp_path, "pipe.csv") == [
        ("data.accounts.csv", "CSV file pipe.csv is a FIFO (named pipe), not a regular file", 3)
    ]


def test_a_device_csv_is_refused(tmp_path):
    assert _problems(tmp_path, "/dev/zero") == [
        ("data.accounts.csv", "CSV file /dev/zero is a character device, not a regular file", 3)
    ]


def test_a_directory_csv_is_refused(tmp_path):
    (tmp_path / "rows.csv").mkdir()
    assert _problems(tmp_path, "rows.csv")[0][1] == "CSV file rows.csv is a directory"


def test_a_huge_csv_is_refused(tmp_path):
    with open(tmp_path / "big.csv", "wb") as handle:
        handle.truncate(MAX_CSV_BYTES + 1)  # sparse: costs no disk
    assert _problems(tmp_path, "big.csv")[0][1] == (
        "CSV file big.csv is larger than the 100 MiB limit"
    )


def test_a_regular_csv_still_loads(tmp_path):
    (tmp_path / "rows.csv").write_bytes(b'\xef\xbb\xbfuser,pass\r\nann,"a,b"\r\nbob,x\n')
    plan = compile_text(tmp_path, "data:\n  accounts: {csv: rows.csv}\n" + FLOW)
    (feed,) = plan.data
    assert feed.columns == ("user", "pass")
    assert feed.rows == (("ann", "a,b"), ("bob", "x"))
