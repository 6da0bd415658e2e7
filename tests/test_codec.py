import gzip
import zlib

import brotli
import pytest
import zstandard

from sourdine import codec

BODY = b'{"hello": "world", "n": [1, 2, 3]}' * 100


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("br", brotli.compress(BODY)),
        ("zstd", zstandard.ZstdCompressor().compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
        ("gzip, br", brotli.compress(gzip.compress(BODY))),
    ],
)
def test_decode_every_encoding(encoding, encoded):
    """Each supported content encoding, alone or stacked, decodes to the original body."""
    assert codec.decode(encoded, encoding) == BODY


def test_raw_deflate():
    """A raw (headerless) deflate stream, which some servers send as "deflate", decodes too."""
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert codec.decode(c.compress(BODY) + c.flush(), "deflate") == BODY


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_bomb_is_refused_at_the_limit(encoding, compress):
    """A small body that expands past the limit is refused instead of filling memory."""
    bomb = compress(b"\0" * (8 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    with pytest.raises(codec.TooLarge):
        codec.decode(bomb, encoding, limit=1024 * 1024)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_a_bomb_is_refused_before_it_fills_memory(encoding):
    """A dense bomb (1 GiB of zeros in 1.6 KB of brotli at quality 5) is refused with its output bounded as it is
    made, not after: the memory it takes stays near the limit. Brotli 1.1's decoder, fed a kilobyte at a time,
    made 256 MB of one kilobyte and took 1.3 GB and 3 s before the limit was checked."""
    import tracemalloc

    from fuzzing import bomb

    data = bomb(encoding)
    tracemalloc.start()
    try:
        with pytest.raises(codec.TooLarge):
            codec.decode(data, encoding, limit=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


def test_brotli_at_its_limit_and_past_it():
    """Brotli decodes a body of exactly the limit, refuses one byte more, and takes output made across several
    bounded calls (more than one step of output) whole."""
    assert codec.decode(brotli.compress(bytes(1000)), "br", limit=1000) == bytes(1000)
    with pytest.raises(codec.TooLarge):
        codec.decode(brotli.compress(bytes(1000)), "br", limit=999)
    big = bytes(range(256)) * (3 * codec._BROTLI_STEP // 256 + 7)
    assert codec.decode(brotli.compress(big, quality=1), "br", limit=len(big)) == big
    with pytest.raises(ValueError, match="trailing|corrupt"):
        codec.decode(brotli.compress(BODY) + b"x", "br")
    with pytest.raises(ValueError, match="truncated"):
        codec.decode(brotli.compress(BODY)[:-4], "br")


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(BODY)[:-20]),
        ("br", b"\xff\xff\xff\xff"),
        ("zstd", b"nope"),
        ("compress", b"whatever"),
    ],
)
def test_corrupt_or_unknown_raises_value_error(encoding, data):
    """Corrupt, truncated or unknown encodings raise ValueError, which the addon turns into pass-through."""
    with pytest.raises(ValueError):
        codec.decode(data, encoding)


def _zstd_in_blocks(body: bytes) -> bytes:
    """A zstd frame whose first half is a block of its own, as a server streaming its answer writes it: cut
    after that block, the decoder has output to give."""
    frame = zstandard.ZstdCompressor().compressobj()
    half = len(body) // 2
    return (frame.compress(body[:half]) + frame.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) + frame.compress(body[half:])
            + frame.flush())


_SKIPPABLE = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"  # a zstd skippable frame


@pytest.mark.parametrize("data", [_zstd_in_blocks(BODY)[:-10], _zstd_in_blocks(BODY)[:-1],
                                  _zstd_in_blocks(BODY) + _zstd_in_blocks(BODY)[:-10],
                                  _zstd_in_blocks(BODY) + _SKIPPABLE[:-2]],
                         ids=["cut in its last block", "its last byte cut", "second frame cut", "skippable cut"])
def test_a_zstd_body_cut_short_is_an_error_not_its_first_part(data):
    """zstd's stream reader gives what it decoded before the cut and no error (a review found a cut Reddit page
    and a cut Facebook stream filtered and sent as whole, without their ends): such a body is refused, as a cut
    gzip or brotli one is, and the addon sends it as it came."""
    assert len(zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()) >= len(BODY) // 2
    with pytest.raises(ValueError, match="truncated zstd"):
        codec.decode(data, "zstd")


def test_whole_zstd_frames_decode_one_after_the_other_skippable_ones_too():
    whole = _zstd_in_blocks(BODY)
    assert codec.decode(whole + _SKIPPABLE + whole, "zstd") == BODY * 2
    assert codec.decode(_SKIPPABLE + whole, "zstd") == BODY


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", gzip.compress(BODY) + b"garbage"),
        ("gzip", gzip.compress(BODY[:1000]) + gzip.compress(BODY[1000:])),
        ("gzip", gzip.compress(BODY) + gzip.compress(BODY)[:-20]),
        ("gzip", gzip.compress(b"", mtime=0) * 100_000),
        ("deflate", zlib.compress(BODY) + b"garbage"),
        ("deflate", zlib.compress(BODY) + zlib.compress(BODY)),
    ],
    ids=["gzip then garbage", "two gzip members", "gzip then a truncated member", "100,000 empty gzip members",
         "deflate then garbage", "deflate twice"],
)
def test_anything_after_the_end_of_a_compressed_body_is_an_error(encoding, data):
    """A second gzip member (RFC 1952 allows them; browsers differ on what they show of them) or anything else
    after the end is refused at once, so that no body is filtered from its first part and sent without the rest
    (a review found the rest dropped): the addon sends it as it came. Refused, not decoded member by member, which
    took time with the square of their number."""
    import time

    started = time.process_time()
    with pytest.raises(ValueError, match="after the end"):
        codec.decode(data, encoding)
    assert time.process_time() - started < 0.5


_TEXT = b"hello world " * 10000
_INFLATE_CASES = {
    "gzip": gzip.compress(_TEXT),
    "truncated gzip": gzip.compress(_TEXT)[:-20],
    "two gzip members": gzip.compress(_TEXT) + gzip.compress(b"second"),
    "gzip then garbage": gzip.compress(_TEXT) + b"garbage",
    "zlib-wrapped deflate": zlib.compress(_TEXT),
    "raw deflate": zlib.compress(_TEXT)[2:-4],
}


@pytest.mark.parametrize("name", sorted(_INFLATE_CASES))
def test_isal_decodes_as_the_standard_zlib_does(name, monkeypatch):
    """gzip and deflate go through ISA-L, which must agree with zlib on every body: the same bytes, or the same
    refusal, within and past the limit."""
    from isal import isal_zlib

    assert codec._inflate is isal_zlib

    def outcomes() -> list:
        found = []
        for encoding, limit in (("gzip", 10**7), ("deflate", 10**7), ("gzip", 1000)):
            try:
                found.append(codec.decode(_INFLATE_CASES[name], encoding, limit))
            except ValueError as e:
                found.append(type(e))
        return found

    fast = outcomes()
    monkeypatch.setattr(codec, "_inflate", zlib)
    assert fast == outcomes()
