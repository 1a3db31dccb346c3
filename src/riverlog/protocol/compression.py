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
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import cramjam

from riverlog.protocol.errors import CorruptRecordError

__all__ = [
    "GZIP",
    "LZ4",
    "NONE",
    "SNAPPY",
    "ZSTD",
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


def compress(codec: int, data: Buffer) -> bytes:
    """``data`` compressed with ``codec`` (a batch attributes codec id)."""
    if codec == NONE:
        return bytes(data)
    if codec not in _COMPRESSORS:
        raise ValueError(f"unknown compression codec {codec}")
    return _COMPRESSORS[codec](data)


def decompress(codec: int, data: Buffer) -> bytes:
    """``data`` decompressed with ``codec``; raises ``CorruptRecordError`` on bad input."""
    if codec == NONE:
        return bytes(data)
    decoder = _DECOMPRESSORS.get(codec)
    if decoder is None:
        raise CorruptRecordError(f"unknown compression codec {codec}")
    try:
        return decoder(data)
    except CorruptRecordError:
        raise
    except Exception as exc:  # cramjam raises its own DecompressionError, struct raises others
        raise CorruptRecordError(f"cannot decompress codec {codec}: {exc}") from exc


def _gzip_compress(data: Buffer) -> bytes:
    return bytes(cramjam.gzip.compress(data))


def _gzip_decompress(data: Buffer) -> bytes:
    return bytes(cramjam.gzip.decompress(data))


def _snappy_compress(data: Buffer) -> bytes:
    out = bytearray(_XERIAL_HEADER)
    with memoryview(data) as view:
        for start in range(0, len(view), _XERIAL_BLOCK_BYTES):
            block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_BYTES]))
            out += _INT32.pack(len(block))
            out += block
    return bytes(out)


def _snappy_decompress(data: Buffer) -> bytes:
    with memoryview(data) as view:
        if bytes(view[: len(_XERIAL_MAGIC)]) != _XERIAL_MAGIC:
            return bytes(cramjam.snappy.decompress_raw(view))
        return _xerial_decompress(view)


def _xerial_decompress(view: memoryview) -> bytes:
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
        out += cramjam.snappy.decompress_raw(view[pos : pos + length])
        pos += length
    return bytes(out)


def _lz4_compress(data: Buffer) -> bytes:
    compressor = cramjam.lz4.Compressor(block_linked=False)
    compressor.compress(data if isinstance(data, bytes) else bytes(data))
    return bytes(compressor.finish())


def _lz4_decompress(data: Buffer) -> bytes:
    return bytes(cramjam.lz4.decompress(data))


def _zstd_compress(data: Buffer) -> bytes:
    return bytes(cramjam.zstd.compress(data))


def _zstd_decompress(data: Buffer) -> bytes:
    return bytes(cramjam.zstd.decompress(data))


_COMPRESSORS: Final[dict[int, Callable[[Buffer], bytes]]] = {
    GZIP: _gzip_compress,
    SNAPPY: _snappy_compress,
    LZ4: _lz4_compress,
    ZSTD: _zstd_compress,
}
_DECOMPRESSORS: Final[dict[int, Callable[[Buffer], bytes]]] = {
    GZIP: _gzip_decompress,
    SNAPPY: _snappy_decompress,
    LZ4: _lz4_decompress,
    ZSTD: _zstd_decompress,
}
