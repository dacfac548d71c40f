"""`--out prometheus=URL`: Prometheus remote write (protobuf + snappy) of every second.

The WriteRequest message is small and stable (remote write 1.0), so it is
encoded here by hand: `WriteRequest{repeated TimeSeries timeseries = 1}`,
`TimeSeries{repeated Label labels = 1; repeated Sample samples = 2}`,
`Label{string name = 1; string value = 2}`, `Sample{double value = 1; int64
timestamp = 2}` (milliseconds). Snappy's block format comes from `cramjam`
(`pip install 'yamlswarm[prometheus]'`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from yamlswarm.errors import UsageError
from yamlswarm.export.http import post
from yamlswarm.export.sample import Sample
from yamlswarm.export.series import points

__all__ = ["HEADERS", "RemoteWrite", "encode_write_request", "need_snappy"]

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
MISSING = (
    "--out prometheus needs the snappy compressor of the 'prometheus' extra: "
    "pip install 'yamlswarm[prometheus]' (or: pip install cramjam)"
)


def need_snappy() -> Any:
    """The `cramjam.snappy` module, or UsageError (exit 2) saying how to install it."""
    try:
        from cramjam import snappy
    except ImportError:
        raise UsageError(MISSING) from None
    return snappy


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # int64 as protobuf sends it (negative: ten bytes)
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _label(name: str, value: str) -> bytes:
    return _field(1, name.encode()) + _field(2, value.encode())


def _sample(value: float, timestamp_ms: int) -> bytes:
    return b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(timestamp_ms)


def encode_write_request(series: Iterable[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """A WriteRequest: each series' labels (with `__name__`) and its (timestamp_ms, value)s."""
    out = bytearray()
    for labels, samples in series:
        body = b"".join(_field(1, _label(k, labels[k])) for k in sorted(labels))
        body += b"".join(_field(2, _sample(v, t)) for t, v in sorted(samples))
        out += _field(1, body)
    return bytes(out)


def group(samples: list[Sample], scenario: str, run_id: str) -> list[Any]:
    """Points of several seconds grouped by series, samples in time order."""
    series: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[tuple[int, float]]]] = {}
    for sample in samples:
        ts = int(sample.wall * 1000)
        for name, labels, value in points(sample, scenario, run_id):
            full = {"__name__": name, **labels}
            key = tuple(sorted(full.items()))
            entry = series.get(key)
            if entry is None:
                entry = series[key] = (full, [])
            entry[1].append((ts, value))
    return list(series.values())


class RemoteWrite:
    """Delivers batches of samples to one remote-write URL (called from the export thread)."""

    def __init__(self, url: str, scenario: str, run_id: str) -> None:
        self.url = url
        self.scenario = scenario
        self.run_id = run_id
        self._snappy = need_snappy()

    def __call__(self, batch: list[Sample]) -> None:
        body = encode_write_request(group(batch, self.scenario, self.run_id))
        post(self.url, bytes(self._snappy.compress_raw(body)), HEADERS)
