"""Codecs as Kafka's Java clients write them, and zigzag varints."""

from __future__ import annotations

import struct

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riverlog.protocol.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD, compress, decompress
from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.varint import read_varint, read_varlong, write_varint, write_varlong

XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)


@settings(max_examples=60, deadline=None)
@given(codec=st.sampled_from([NONE, GZIP, SNAPPY, LZ4, ZSTD]), data=st.binary(max_size=5000))
def test_round_trip(codec: int, data: bytes) -> None:
    assert decompress(codec, compress(codec, data)) == data
    assert decompress(codec, memoryview(compress(codec, bytearray(data)))) == data


def test_round_trip_of_large_input_spanning_blocks() -> None:
    data = bytes(range(256)) * 2000  # 500 KiB: several snappy and lz4 blocks
    for codec in (GZIP, SNAPPY, LZ4, ZSTD):
        assert decompress(codec, compress(codec, data)) == data


def test_snappy_writes_xerial_framing_in_32k_blocks() -> None:
    data = b"a" * 100_000
    out = compress(SNAPPY, data)
    assert out.startswith(XERIAL_HEADER)
    pos, blocks = len(XERIAL_HEADER), []
    while pos < len(out):
        (length,) = struct.unpack_from(">i", out, pos)
        blocks.append(bytes(cramjam.snappy.decompress_raw(out[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    assert [len(block) for block in blocks] == [32768, 32768, 32768, 1696]
    assert b"".join(blocks) == data


def test_snappy_reads_raw_unframed_data() -> None:
    data = b"raw snappy as some clients write it" * 10
    assert decompress(SNAPPY, bytes(cramjam.snappy.compress_raw(data))) == data


def test_lz4_writes_a_frame_with_independent_blocks() -> None:
    out = compress(LZ4, b"x" * 1000)
    assert out[:4] == struct.pack("<I", 0x184D2204)
    flags = out[4]
    assert flags >> 6 == 1  # frame format version 01
    assert flags & 0x20  # block independence: Kafka's Java reader needs it


def test_gzip_and_zstd_magic() -> None:
    assert compress(GZIP, b"abc")[:2] == b"\x1f\x8b"
    assert compress(ZSTD, b"abc")[:4] == bytes.fromhex("28b52ffd")


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_garbage_raises_corrupt(codec: int) -> None:
    with pytest.raises(CorruptRecordError):
        decompress(codec, b"\x82SNAPPY\x00 this is not compressed data at all")
    with pytest.raises(CorruptRecordError):
        decompress(codec, compress(codec, b"hello world" * 50)[:-9])


def test_truncated_xerial_block_is_corrupt() -> None:
    out = compress(SNAPPY, b"z" * 100)
    with pytest.raises(CorruptRecordError):
        decompress(SNAPPY, out[:-1])
    with pytest.raises(CorruptRecordError):
        decompress(SNAPPY, XERIAL_HEADER[:12])


def test_unknown_codec() -> None:
    with pytest.raises(CorruptRecordError):
        decompress(5, b"")
    with pytest.raises(ValueError):
        compress(7, b"")


# --- varints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (-1, "01"), (1, "02"), (63, "7e"), (-64, "7f"), (64, "8001"), (300, "d804")],
)
def test_varint_known_encodings(value: int, encoded: str) -> None:
    out = bytearray()
    write_varint(out, value)
    assert out.hex() == encoded
    assert read_varint(bytes(out), 0) == (value, len(out))


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_varint_round_trip(value: int) -> None:
    out = bytearray(b"pre")
    write_varint(out, value)
    assert len(out) <= 3 + 5
    assert read_varint(out, 3) == (value, len(out))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varlong_round_trip(value: int) -> None:
    out = bytearray()
    write_varlong(out, value)
    assert len(out) <= 10
    assert read_varlong(bytes(out), 0) == (value, len(out))


def test_varint_errors() -> None:
    with pytest.raises(CorruptRecordError, match="truncated"):
        read_varint(b"\x80\x80", 0)
    with pytest.raises(CorruptRecordError, match="longer"):
        read_varint(b"\xff" * 6, 0)
    with pytest.raises(CorruptRecordError, match="longer"):
        read_varlong(b"\xff" * 11, 0)
    assert read_varlong(b"\xff" * 9 + b"\x01", 0) == (-(2**63), 10)


def test_stated_sizes_are_hints_not_allocations() -> None:
    from riverlog.protocol.compression import DecompressedSizeError

    data = bytes(range(256)) * 400
    frame = bytearray(compress(ZSTD, data))
    assert frame[4] & 0xC0  # cramjam states the content size
    assert decompress(ZSTD, bytes(frame)) == data
    # A frame that states a small size still decompresses whole (the buffer grows) ...
    small = bytearray(cramjam.zstd.compress(data))
    descriptor = small[4]
    assert descriptor >> 6 == 2 and descriptor & 0x20  # 4-byte size, single segment
    struct.pack_into("<I", small, 5, 10)
    try:
        decompress(ZSTD, bytes(small))
    except CorruptRecordError:
        pass  # zstd itself may refuse a frame whose stated size is wrong; either is fine
    # ... and one stating 2**60 bytes costs no 2**60-byte buffer: the limit holds.
    huge = bytearray(small)
    huge[4] = 0xE0  # 8-byte size field, single segment
    huge[5:9] = b""
    huge[5:5] = (2**60).to_bytes(8, "little")
    with pytest.raises(CorruptRecordError):
        decompress(ZSTD, bytes(huge), limit=1 << 20)
    with pytest.raises(DecompressedSizeError):
        decompress(ZSTD, compress(ZSTD, bytes(2 << 20)), limit=1 << 20)


@pytest.mark.parametrize("codec", [GZIP, LZ4, ZSTD])
def test_highly_compressible_data_decompresses_within_the_limit(codec: int) -> None:
    data = b"R" * 5_000_000
    assert decompress(codec, compress(codec, data), limit=5_000_000) == data
    with pytest.raises(CorruptRecordError):
        decompress(codec, compress(codec, data), limit=4_999_999)
