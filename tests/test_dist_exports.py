"""What a worker's stats export may hold (distributed/exports.py) and the frame size setting."""

from __future__ import annotations

import base64
import ctypes
import re
import zlib
from typing import Any

import pytest
from hdrh import codec
from hdrh.histogram import HdrHistogram

from yamlswarm.distributed.exports import MAX_ROWS, check_export
from yamlswarm.distributed.limits import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_BUNDLE_BYTES,
    check_bundle_fits,
    max_message_bytes,
    parse_size,
)
from yamlswarm.distributed.messages import ProtocolError
from yamlswarm.errors import UsageError
from yamlswarm.runtime.stats import Stats


def _export() -> dict[str, Any]:
    stats = Stats()
    row = stats.row("/x", "GET")
    row.success(0.01)
    row.failure(0.02, "HTTP 500", example="HTTP 500: boom")
    stats.register_check("/x", "GET", "status 200")
    stats.iteration_done()
    return stats.export()


def _with(path: str, value: Any) -> dict[str, Any]:
    data = _export()
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = data
    for part in parents:
        target = target[part]
    target[last] = value
    return data


def _other_layout_histogram() -> bytes:
    histogram = HdrHistogram(1, 1000, 2)
    histogram.record_value(5)
    return histogram.encode()


def _bomb() -> bytes:
    """A valid-looking histogram header that inflates to 100 MB of zeros."""
    good = base64.b64decode(_export()["rows"][0]["lat"]["hist"])
    header = codec.ExternalHeader.from_buffer_copy(good[: codec.ext_header_size])
    payload = zlib.compress(b"\0" * 100_000_000)
    header.length = len(payload)
    raw = ctypes.string_at(ctypes.addressof(header), codec.ext_header_size)
    return base64.b64encode(raw + payload)


def test_a_real_export_passes() -> None:
    check_export(_export())
    check_export(Stats().export())


@pytest.mark.parametrize(
    "data, text",
    [
        ([], "a stats export of version None"),
        ({"version": 1}, "a stats export of version 1 (expected 4)"),
        (_with("iterations", -1), "iterations is -1, not a count"),
        (_with("dropped", 1.5), "dropped is 1.5, not a count"),
        (_with("second_failures", True), "second_failures is True, not a count"),
        (_with("checks", "x"), "checks: not a list"),
        (_with("checks.0", ["a", "b"]), "a check that is not [name, method, description]"),
        (_with("rows", {}), "rows: not a list"),
        (_with("rows.0", "row"), "a request row that is not a map"),
        (_with("rows.0.name", 7), "a request row without a name and a method"),
        (_with("rows.0.name", "x" * 20_000), "a request row without a name and a method"),
        (_with("rows.0.failures", "1"), "row GET '/x': failures is '1', not a count"),
        (_with("rows.0.lat", None), "row GET '/x': latency: not a histogram"),
        (_with("rows.0.lat.n", 2**64), "latency: n is"),
        (_with("rows.0.lat.min_us", 2**40), "latency: min and max out of range"),
        (_with("rows.0.lat.hist", "text"), "latency: the histogram is not bytes"),
        (_with("rows.0.lat.hist", b"junk!"), "latency: not an HDR histogram"),
        (_with("rows.0.lat.hist", _other_layout_histogram()), "an HDR histogram of another layout"),
        (_with("rows.0.lat.hist", _bomb()), "an HDR histogram of the wrong size"),
        (_with("rows.0.service", {"n": "x"}), "service time: n is 'x'"),
        (_with("rows.0.errors", [["e", 1, 0.0, float("inf"), None]]), "an error group that is not"),
        (_with("rows.0.errors", [["e", 1, 0.0, 1.0]]), "an error group that is not"),
        (_with("rows.0.errors", [["e"] * 5] * 1001), "errors: 1001 entries, more than 1000"),
        (_with("second", []), "second: not a histogram"),
    ],
)
def test_malformed_exports_are_protocol_errors(data: Any, text: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(text)):
        check_export(data)


def test_the_run_holds_at_most_max_rows_distinct_rows() -> None:
    data = _export()
    check_export(data, MAX_ROWS, lambda key: key == ("/x", "GET"))  # an old row: fine
    with pytest.raises(ProtocolError, match=f"more than {MAX_ROWS} distinct request rows"):
        check_export(data, MAX_ROWS, lambda key: False)
    data["rows"] = data["rows"] * (MAX_ROWS + 1)
    with pytest.raises(ProtocolError, match=f"more than {MAX_ROWS}"):
        check_export(data)


def test_the_frame_size_limit_comes_from_the_environment() -> None:
    assert DEFAULT_MAX_MESSAGE_BYTES > MAX_BUNDLE_BYTES
    assert max_message_bytes(environ={}) == DEFAULT_MAX_MESSAGE_BYTES
    assert max_message_bytes(environ={"YAMLSWARM_MAX_MESSAGE_SIZE": "64MB"}) == 64 * 1024**2
    assert max_message_bytes(100_000) == 100_000
    assert [parse_size(t) for t in ("65536", "64k", "2MiB", "1G")] == [
        65536,
        65536,
        2 << 20,
        1 << 30,
    ]
    with pytest.raises(UsageError, match="YAMLSWARM_MAX_MESSAGE_SIZE: '5 apples' is not a size"):
        max_message_bytes(environ={"YAMLSWARM_MAX_MESSAGE_SIZE": "5 apples"})
    with pytest.raises(UsageError, match="must be between 64 KiB and 4 GiB, not 10 bytes"):
        max_message_bytes(environ={"YAMLSWARM_MAX_MESSAGE_SIZE": "10"})
    check_bundle_fits(MAX_BUNDLE_BYTES, DEFAULT_MAX_MESSAGE_BYTES)
    with pytest.raises(UsageError, match="does not fit in the largest message workers take in"):
        check_bundle_fits(2_000_000, 2_000_000)
