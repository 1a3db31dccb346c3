"""Record batch compression codecs, as Apache Kafka's Java clients write and read them.

The codec id is the low 3 bits of a v2 batch's attributes: 0 none, 1 gzip, 2 snappy, 3 lz4,
4 zstd. The compressed unit is the whole records section (everything after the 61-byte header).

- gzip: one gzip member (RFC 1952), as ``GZIPOutputStream`` writes.
- snappy: Java writes snappy-java's "xerial" stream: a 16-byte header (``0x82 'SNAPPY' 0x00``,
  int32 version 1, int32 min-compatible version 1) then blocks of big-endian int32 length +
  raw snappy data, each block holding at most 32 KiB of input. snappy-java's reader also accepts
  a plain raw-snappy buffer (no header), which librdkafka and some other clients have written, so
  ``decompress`` accepts both and ``compress`` writes xerial like Java.
- lz4: the LZ4 frame format with independent blocks (Kafka's ``Lz4BlockInputStream`` decompresses
  each block on its own and cannot read linked blocks).
- zstd: standard zstd frames.

All codecs run in ``cramjam``'s native code. Failures raise ``CorruptRecordError``.

Decompression is bounded: ``decompress`` never produces more than ``limit`` bytes and raises
``DecompressedSizeError`` past it. A few KiB of zstd or gzip can claim gigabytes, and cramjam
allocates what the input claims (an allocation failure aborts the process), so the output buffer is
ours: it starts at the size the frame states (zstd, lz4) or at the codec's last ratio, and grows
fourfold while the codec reports it too small, up to the limit. Kafka streams decompression and has no such limit; the broker's is generous (see
``storage.validator``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import cramjam

from riverlog.protocol.errors import CorruptRecordError

__all__ = [
    "DEFAULT_DECOMPRESSED_LIMIT",
    "GZIP",
    "LZ4",
    "NONE",
    "SNAPPY",
    "ZSTD",
    "DecompressedSizeError",
    "compress",
    "decompress",
]

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4

Buffer = bytes | bytearray | memoryview

_XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER: Final = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK_BYTES: Final = 32 * 1024  # snappy-java's default block size
_INT32 = struct.Struct(">i")

DEFAULT_DECOMPRESSED_LIMIT: Final = 1 << 30  # what readers of stored batches accept
_FIRST_GUESS_RATIO: Final = 8  # the first output buffer: 8x the input (at least _MIN_OUTPUT)
_MIN_OUTPUT: Final = 64 * 1024
_GROWTH: Final = 4
_MAX_STATED_RATIO: Final = 256
# How cramjam reports an output buffer that is too small (Rust's io::ErrorKind::WriteZero);
# test_compression pins it, so a cramjam release that words it differently fails a test, not
# the broker.
_OUTPUT_FULL: Final = "failed to write whole buffer"


_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_LZ4_MAGIC: Final = b"\x04\x22\x4d\x18"
# Output-to-input ratio of each codec's last batch: the first output buffer's size when the frame
# states none (a cache; any value is safe).
_last_ratio: dict[int, float] = {}


class DecompressedSizeError(CorruptRecordError):
    """The records section decompresses to more than the limit allows."""


def compress(codec: int, data: Buffer) -> bytes:
    """``data`` compressed with ``codec`` (a batch attributes codec id)."""
    if codec == NONE:
        return bytes(data)
    if codec not in _COMPRESSORS:
        raise ValueError(f"unknown compression codec {codec}")
    return _COMPRESSORS[codec](data)


def decompress(codec: int, data: Buffer, limit: int = DEFAULT_DECOMPRESSED_LIMIT) -> bytes:
    """``data`` decompressed with ``codec``, at most ``limit`` bytes.

    Raises ``CorruptRecordError`` on bad input or an unknown codec, ``DecompressedSizeError``
    (a ``CorruptRecordError``) when the output would exceed ``limit``.
    """
    if codec == NONE:
        return bytes(data)
    decoder = _DECOMPRESSORS.get(codec)
    if decoder is None:
        raise CorruptRecordError(f"unknown compression codec {codec}")
    try:
        return decoder(data, limit)
    except CorruptRecordError:
        raise
    except Exception as exc:  # cramjam raises its own DecompressionError, struct raises others
        raise CorruptRecordError(f"cannot decompress codec {codec}: {exc}") from exc


def _bounded(
    codec: int, into: Callable[[Buffer, bytearray], int], data: Buffer, limit: int
) -> bytes:
    """Decompress with a cramjam ``*_into`` function into a buffer that grows up to ``limit``.

    The first size is the size the frame states (zstd, lz4) or the last batch's ratio for the
    codec; a stated size is only a hint: the buffer still grows, and never past ``limit``."""
    size = min(limit, _first_guess(codec, data))
    while True:
        out = bytearray(size)
        try:
            written = into(data, out)
        except cramjam.DecompressionError as exc:
            if _OUTPUT_FULL not in str(exc):
                raise
            if size >= limit:
                raise DecompressedSizeError(
                    f"records section decompresses to more than {limit} bytes"
                ) from None
            size = min(limit, size * _GROWTH)
            continue
        if written == size and size < limit:
            # Exactly full: the output may have been cut at the buffer's end; try once bigger.
            size = min(limit, size * _GROWTH)
            continue
        if data:
            _last_ratio[codec] = written / len(data)
        return bytes(memoryview(out)[:written])


def _first_guess(codec: int, data: Buffer) -> int:
    stated = _stated_size(codec, data)
    if stated is not None:
        # One spare byte (a full buffer means "maybe more"); a frame claiming far more than its
        # size could hold gets no more than _MAX_STATED_RATIO times its size up front.
        return min(stated + 1, max(_MIN_OUTPUT, _MAX_STATED_RATIO * len(data)))
    ratio = _last_ratio.get(codec, _FIRST_GUESS_RATIO)
    return max(_MIN_OUTPUT, int(len(data) * ratio * 1.25))


def _stated_size(codec: int, data: Buffer) -> int | None:
    """The content size a zstd or lz4 frame header states, if it states one."""
    with memoryview(data) as view:
        head = bytes(view[:18])
    if codec == ZSTD and len(head) >= 6 and head[:4] == _ZSTD_MAGIC:
        descriptor = head[4]
        single_segment = descriptor & 0x20
        size_field = (0 if not single_segment else 1, 2, 4, 8)[descriptor >> 6]
        at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 0x03]
        if size_field and len(head) >= at + size_field:
            stated = int.from_bytes(head[at : at + size_field], "little")
            return stated + 256 if size_field == 2 else stated
    if codec == LZ4 and len(head) >= 15 and head[:4] == _LZ4_MAGIC and head[4] & 0x08:
        return int.from_bytes(head[6:14], "little")
    return None


def _gzip_compress(data: Buffer) -> bytes:
    return bytes(cramjam.gzip.compress(data))


def _gzip_decompress(data: Buffer, limit: int) -> bytes:
    return _bounded(GZIP, cramjam.gzip.decompress_into, data, limit)


def _snappy_compress(data: Buffer) -> bytes:
    out = bytearray(_XERIAL_HEADER)
    with memoryview(data) as view:
        for start in range(0, len(view), _XERIAL_BLOCK_BYTES):
            block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_BYTES]))
            out += _INT32.pack(len(block))
            out += block
    return bytes(out)


def _snappy_decompress(data: Buffer, limit: int) -> bytes:
    with memoryview(data) as view:
        if bytes(view[: len(_XERIAL_MAGIC)]) != _XERIAL_MAGIC:
            return _snappy_raw(view, limit)
        return _xerial_decompress(view, limit)


def _snappy_raw(view: memoryview, limit: int) -> bytes:
    # A raw snappy block states its length first; cramjam allocates it before decoding.
    if cramjam.snappy.decompress_raw_len(view) > limit:
        raise DecompressedSizeError(f"snappy block claims more than {limit} bytes")
    return bytes(cramjam.snappy.decompress_raw(view))


def _xerial_decompress(view: memoryview, limit: int) -> bytes:
    if len(view) < len(_XERIAL_HEADER):
        raise CorruptRecordError("truncated xerial snappy header")
    out = bytearray()
    pos = len(_XERIAL_HEADER)
    while pos < len(view):
        if pos + _INT32.size > len(view):
            raise CorruptRecordError("truncated xerial snappy block length")
        (length,) = _INT32.unpack_from(view, pos)
        pos += _INT32.size
        if length < 0 or pos + length > len(view):
            raise CorruptRecordError(f"bad xerial snappy block length {length}")
        out += _snappy_raw(view[pos : pos + length], limit - len(out))
        pos += length
    return bytes(out)


def _lz4_compress(data: Buffer) -> bytes:
    compressor = cramjam.lz4.Compressor(block_linked=False)
    compressor.compress(data if isinstance(data, bytes) else bytes(data))
    return bytes(compressor.finish())


def _lz4_decompress(data: Buffer, limit: int) -> bytes:
    return _bounded(LZ4, cramjam.lz4.decompress_into, data, limit)


def _zstd_compress(data: Buffer) -> bytes:
    return bytes(cramjam.zstd.compress(data))


def _zstd_decompress(data: Buffer, limit: int) -> bytes:
    return _bounded(ZSTD, cramjam.zstd.decompress_into, data, limit)


_COMPRESSORS: Final[dict[int, Callable[[Buffer], bytes]]] = {
    GZIP: _gzip_compress,
    SNAPPY: _snappy_compress,
    LZ4: _lz4_compress,
    ZSTD: _zstd_compress,
}
_DECOMPRESSORS: Final[dict[int, Callable[[Buffer, int], bytes]]] = {
    GZIP: _gzip_decompress,
    SNAPPY: _snappy_decompress,
    LZ4: _lz4_decompress,
    ZSTD: _zstd_decompress,
}
