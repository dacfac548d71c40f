"""Content-Encoding decoders, bounded: never more than `limit` bytes out, whatever came in.

A response body is kept up to the body limit on the wire; `decode` then inflates it
incrementally and stops at the limit too, so a gzip bomb costs at most the limit in memory
and in time. A body cut short (at the limit or by the peer) decodes as far as it goes and is
marked truncated. Encodings: gzip, deflate (zlib-wrapped or raw), br (`brotli`), zstd
(`zstandard`), identity, and lists of them (`gzip, br`: decoded in reverse order).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

try:
    import brotli
except ImportError:  # pragma: no cover - a dependency; kept optional for slim installs
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None  # type: ignore[assignment]

Decoded = tuple[bytes, bool]  # (body, truncated: more output than the limit, or input cut short)


class DecodeError(Exception):
    """A body that does not decode as its Content-Encoding says (named for the error table)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _zlib(body: bytes, limit: int, wbits: int) -> Decoded:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit) if limit > 0 else b""
    # not at the end of the stream: output stopped at the limit, or the input was cut short
    return out, not inflater.eof


def _gzip(body: bytes, limit: int) -> Decoded:
    return _zlib(body, limit, 16 + zlib.MAX_WBITS)


def _deflate(body: bytes, limit: int) -> Decoded:
    # RFC 9110 says zlib-wrapped; some servers send raw deflate: the first byte tells
    wrapped = len(body) >= 2 and (body[0] & 0x0F) == 8 and (body[0] << 8 | body[1]) % 31 == 0
    return _zlib(body, limit, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _br(body: bytes, limit: int) -> Decoded:
    if brotli is None:
        raise DecodeError("UnsupportedEncoding: br (pip install brotli)")
    decompressor = brotli.Decompressor()
    try:
        out = decompressor.process(body, output_buffer_limit=limit)
    except brotli.error:
        raise DecodeError("DecodeError: br") from None
    if len(out) > limit:
        return out[:limit], True
    more = not decompressor.is_finished()
    return out, more


def _zstd(body: bytes, limit: int) -> Decoded:
    if zstandard is None:
        raise DecodeError("UnsupportedEncoding: zstd (pip install zstandard)")
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
    parts: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            piece = reader.read(min(65536, limit + 1 - size))
            if not piece:
                break
            parts.append(piece)
            size += len(piece)
    except zstandard.ZstdError:
        if not parts:
            raise DecodeError("DecodeError: zstd") from None
        return b"".join(parts), True  # cut short: what decoded so far
    out = b"".join(parts)
    if size > limit:
        return out[:limit], True
    # all of it fits: the reader stops quietly at a cut, so ask whether the frame ended
    whole = zstandard.ZstdDecompressor().decompressobj()
    whole.decompress(body)
    return out, not whole.eof


_DECODERS: dict[str, Callable[[bytes, int], Decoded]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _br,
    "zstd": _zstd,
}


def decode(body: bytes, encoding: str, limit: int) -> Decoded:
    """`body` decoded as `encoding` says, at most `limit` bytes; unknown codings left as they are."""
    truncated = False
    for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            if coding in ("", "identity"):
                continue
            return body, truncated  # not ours to decode: the bytes as they came
        try:
            body, cut = decoder(body, limit)
        except zlib.error:
            raise DecodeError(f"DecodeError: {coding}") from None
        truncated = truncated or cut
    return body, truncated
