"""Content-Encoding decoding with a size limit, so that a small compressed body cannot expand without bound.

Every decoder reads in steps and stops as soon as the output passes the limit. Encodings are applied in the
order the header lists them, so they are undone in reverse.
"""

from __future__ import annotations

import io
import zlib

import brotlicffi
import zstandard

try:
    # ISA-L's inflate, behind zlib's own interface: gzip feeds decode 2.5 to 3 times faster than with zlib
    # (0.7 ms instead of 1.7 for an X home timeline of 925 KB).
    from isal import isal_zlib as _inflate
except ImportError:  # no wheel for this machine: the standard library's zlib does the same, slower
    _inflate = zlib  # type: ignore[assignment]

_ERRORS = (zlib.error, _inflate.error)
DEFAULT_LIMIT = 32 * 1024 * 1024
_STEP = 64 * 1024
# Brotli's input and output, a call at a time.
_BROTLI_STEP = 256 * 1024


class TooLarge(ValueError):
    """The decoded body would be larger than the limit."""


def _zlib(data: bytes, wbits: int, limit: int) -> bytes:
    """`data` inflated. Anything after the end of the compressed stream (a second gzip member, which RFC 1952
    allows, or other bytes) is an error: browsers differ on what they make of it, and a body filtered from its
    first part alone would go out without the rest; such a body goes out as it came."""
    d = _inflate.decompressobj(wbits)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge(f"decoded body exceeds {limit} bytes")
    if not d.eof:
        raise ValueError("truncated compressed body")
    if d.unused_data:
        raise ValueError("data after the end of the compressed body")
    return out


def _deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
    try:
        return _zlib(data, zlib.MAX_WBITS, limit)
    except _ERRORS:
        return _zlib(data, -zlib.MAX_WBITS, limit)


def _brotli(data: bytes, limit: int) -> bytes:
    """`data` decoded, its output bounded as it is made: brotlicffi 1.2 (libbrotli 1.2) stops writing out at the
    bound given, and goes on from there on the next call. Brotli 1.1, the one mitmproxy 11 allows, has no such
    bound: one slice of a kilobyte could decode to 256 MB (a 1.6 KB body of 1 GB took 3.4 s and 1.3 GB of memory
    before the size was checked). The input goes in slices too: brotlicffi copies what a bounded call leaves
    unread, which for a whole body of 30 MB that hardly compresses was 30 copies of what remained."""
    d = brotlicffi.Decompressor()
    parts: list[bytes] = []
    size = 0
    for i in range(0, max(len(data), 1), _BROTLI_STEP):
        chunk = data[i : i + _BROTLI_STEP]
        while True:
            part = d.process(chunk, output_buffer_limit=min(limit + 1 - size, _BROTLI_STEP))
            chunk = b""
            size += len(part)
            if size > limit:
                raise TooLarge(f"decoded body exceeds {limit} bytes")
            parts.append(part)
            if d.can_accept_more_data():
                break
    if not d.is_finished():
        raise ValueError("truncated brotli body")
    return b"".join(parts)


def _zstd(data: bytes, limit: int) -> bytes:
    # The stream reader stops a bomb at the limit, but takes a frame cut short for the body's end (as gzip's and
    # brotli's decoders do not): a body cut in transit would be filtered from its first part and sent as whole.
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    out = io.BytesIO()
    while chunk := reader.read(_STEP):
        out.write(chunk)
        if out.tell() > limit:
            raise TooLarge(f"decoded body exceeds {limit} bytes")
    _whole_zstd_frames(data)
    return out.getvalue()


def _whole_zstd_frames(data: bytes) -> None:
    """ValueError unless `data` is whole zstd frames, one after the other. Decodes each again (about 1 ms a MB):
    only once the body is known to decode within the limit."""
    dctx = zstandard.ZstdDecompressor()
    rest = data
    while rest:
        frame = dctx.decompressobj()
        frame.decompress(rest)
        if not frame.eof:
            raise ValueError("truncated zstd body")
        rest = frame.unused_data


def decode(data: bytes, content_encoding: str | None, limit: int = DEFAULT_LIMIT) -> bytes:
    """The body with its content encodings undone. ValueError for an unknown, corrupt or oversized body."""
    if len(data) > limit:
        raise TooLarge(f"body exceeds {limit} bytes")
    if not content_encoding:
        return data
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip"):
                data = _zlib(data, 16 + zlib.MAX_WBITS, limit)
            elif coding == "deflate":
                data = _deflate(data, limit)
            elif coding == "br":
                data = _brotli(data, limit)
            elif coding == "zstd":
                data = _zstd(data, limit)
            elif coding != "identity":
                raise ValueError(f"unsupported content encoding {coding!r}")
        except (*_ERRORS, brotlicffi.error, zstandard.ZstdError) as e:
            raise ValueError(f"corrupt {coding} body: {e}") from e
    return data
