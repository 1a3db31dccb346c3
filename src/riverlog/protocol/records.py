"""Record batches, magic v2 (KIP-98), the unit Kafka stores, replicates and serves.

Batch layout, big-endian, 61-byte header then the records section::

    0  baseOffset int64        27 baseTimestamp int64
    8  batchLength int32       35 maxTimestamp int64
    12 partitionLeaderEpoch    43 producerId int64
    16 magic int8 (= 2)        51 producerEpoch int16
    17 crc uint32              53 baseSequence int32
    21 attributes int16        57 recordsCount int32
    23 lastOffsetDelta int32   61 records (compressed as a whole when the codec is not none)

``batchLength`` counts the bytes after itself, so a batch is ``batchLength + 12`` bytes. The CRC is
CRC32C over attributes..end; it does not cover baseOffset, batchLength or partitionLeaderEpoch,
so the leader can assign offsets and stamp its epoch without recomputing it. Attributes: bits 0-2
codec, bit 3 timestamp type (1 = LogAppendTime), bit 4 transactional, bit 5 control, bit 6 delete
horizon set (KIP-534).

Each record::

    length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
    keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
    headersCount varint, then per header: keyLength varint, key (UTF-8), valueLength varint, value

Control batches hold one record whose key is (version int16 = 0, type int16: 0 abort, 1 commit)
and whose value is Kafka's end-transaction marker (version int16 = 0, coordinatorEpoch int32).

The hot path (produce, fetch, replication, recovery) touches only the header: ``parse_header``,
``iter_batches``, ``crc_ok`` and the in-place patches. ``decode_records`` and ``build_batch`` do
per-record work and are for compaction, transactions' control records, tools and tests.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from crc32c import crc32c

from riverlog.protocol.compression import compress, decompress
from riverlog.protocol.errors import CorruptRecordError, InvalidRecordError
from riverlog.protocol.varint import read_varint, read_varlong, write_varint, write_varlong

__all__ = [
    "ATTRIBUTES_OFFSET",
    "BATCH_HEADER_SIZE",
    "CONTROL_ABORT",
    "CONTROL_COMMIT",
    "CRC_OFFSET",
    "MAGIC_V2",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "RECORD_BATCH_OVERHEAD",
    "BatchHeader",
    "Record",
    "build_batch",
    "build_control_batch",
    "control_record_type",
    "crc_ok",
    "decode_records",
    "iter_batches",
    "parse_header",
    "patch_base_offset",
    "patch_leader_epoch",
    "set_log_append_time",
    "set_max_timestamp",
]

Buffer = bytes | bytearray | memoryview
WritableBuffer = bytearray | memoryview
Header = tuple[str, bytes | None]

BATCH_HEADER_SIZE: Final = 61
RECORD_BATCH_OVERHEAD: Final = 12  # baseOffset + batchLength: the bytes batchLength does not count
MAGIC_V2: Final = 2
NO_TIMESTAMP: Final = -1
NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1
CONTROL_ABORT: Final = 0
CONTROL_COMMIT: Final = 1

PARTITION_LEADER_EPOCH_OFFSET: Final = 12
MAGIC_OFFSET: Final = 16
CRC_OFFSET: Final = 17
ATTRIBUTES_OFFSET: Final = 21
MAX_TIMESTAMP_OFFSET: Final = 35

_HEADER = struct.Struct(">qiibIhiqqqhii")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")
_MIN_BATCH_LENGTH: Final = BATCH_HEADER_SIZE - RECORD_BATCH_OVERHEAD

_CODEC_MASK: Final = 0x07
_TIMESTAMP_TYPE_BIT: Final = 0x08
_TRANSACTIONAL_BIT: Final = 0x10
_CONTROL_BIT: Final = 0x20
_DELETE_HORIZON_BIT: Final = 0x40
_INT32_MAX: Final = 2**31 - 1


class BatchHeader(NamedTuple):
    """The 61-byte header of a v2 record batch.

    A NamedTuple, not a dataclass: it is built for every batch on the append path, and a tuple
    costs a fraction of a frozen dataclass to construct.
    """

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies."""
        return self.batch_length + RECORD_BATCH_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1

    @property
    def compression(self) -> int:
        """0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd."""
        return self.attributes & _CODEC_MASK

    @property
    def timestamp_type(self) -> int:
        """0 CreateTime, 1 LogAppendTime."""
        return 1 if self.attributes & _TIMESTAMP_TYPE_BIT else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & _DELETE_HORIZON_BIT)

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record (-1 without one); wraps past int32 max like Kafka's."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return _increment_sequence(self.base_sequence, self.last_offset_delta)


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def _increment_sequence(sequence: int, increment: int) -> int:
    if sequence > _INT32_MAX - increment:
        return increment - (_INT32_MAX - sequence) - 1
    return sequence + increment


# --- header, iteration, CRC ----------------------------------------------------------------------


def parse_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """The batch header at ``pos``; ``CorruptRecordError`` if short, not magic 2 or too small."""
    if len(buf) - pos < BATCH_HEADER_SIZE:
        raise CorruptRecordError(f"batch header needs {BATCH_HEADER_SIZE} bytes at {pos}")
    header = BatchHeader._make(_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC_V2:
        raise CorruptRecordError(f"unsupported record batch magic {header.magic} at {pos}")
    if header.batch_length < _MIN_BATCH_LENGTH:
        raise CorruptRecordError(f"batch length {header.batch_length} too small at {pos}")
    return header


def iter_batches(
    buf: Buffer, allow_partial_tail: bool = False
) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each whole batch in ``buf``, in order.

    A truncated last batch raises ``CorruptRecordError``, or ends the iteration silently when
    ``allow_partial_tail`` (fetch responses may end mid-batch; a crash may leave a torn tail).
    A header that is whole but invalid (bad magic, tiny length) raises in both modes: that is
    garbage, not a partial tail, and recovery must truncate there.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        remaining = end - pos
        if remaining < BATCH_HEADER_SIZE:
            if allow_partial_tail:
                return
            raise CorruptRecordError(f"truncated batch header at {pos} ({remaining} bytes)")
        header = parse_header(buf, pos)
        if header.size > remaining:
            if allow_partial_tail:
                return
            raise CorruptRecordError(f"batch at {pos} needs {header.size} bytes, has {remaining}")
        yield pos, header
        pos += header.size


def crc_ok(buf: Buffer, pos: int, header: BatchHeader) -> bool:
    """Whether the batch's CRC32C (over attributes..end) matches its header."""
    with memoryview(buf) as view:
        return bool(crc32c(view[pos + ATTRIBUTES_OFFSET : pos + header.size]) == header.crc)


def _write_crc(buf: WritableBuffer, pos: int, size: int) -> None:
    with memoryview(buf) as view:
        crc = crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size])
    _UINT32.pack_into(buf, pos + CRC_OFFSET, crc)


# --- in-place patches ----------------------------------------------------------------------------


def patch_base_offset(buf: WritableBuffer, pos: int, base_offset: int) -> None:
    """Set the batch's base offset (not covered by the CRC)."""
    _INT64.pack_into(buf, pos, base_offset)


def patch_leader_epoch(buf: WritableBuffer, pos: int, epoch: int) -> None:
    """Set the batch's partition leader epoch (not covered by the CRC)."""
    _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(buf: WritableBuffer, pos: int, ts_ms: int) -> None:
    """Mark the batch LogAppendTime with max timestamp ``ts_ms``, and recompute its CRC.

    As Kafka's ``DefaultRecordBatch.setMaxTimestamp``: record timestamps stay as written; readers
    report ``ts_ms`` for every record of a LogAppendTime batch.
    """
    (attributes,) = _INT16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes | _TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, ts_ms)
    (batch_length,) = _INT32.unpack_from(buf, pos + 8)
    _write_crc(buf, pos, batch_length + RECORD_BATCH_OVERHEAD)


def set_max_timestamp(buf: WritableBuffer, pos: int, ts_ms: int) -> None:
    """Set the batch's max timestamp and recompute its CRC (the leader's fix of a header whose
    max timestamp is not its records', as Kafka's ``setMaxTimestamp``)."""
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, ts_ms)
    (batch_length,) = _INT32.unpack_from(buf, pos + 8)
    _write_crc(buf, pos, batch_length + RECORD_BATCH_OVERHEAD)


# --- decoding records ----------------------------------------------------------------------------


def decode_records(buf: Buffer, pos: int, header: BatchHeader) -> list[Record]:
    """Every record of the batch at ``pos``, decompressed, with absolute offsets and timestamps.

    Records of a LogAppendTime batch all report the batch's max timestamp, as Kafka's readers do.
    Raises ``CorruptRecordError`` when the section does not decompress, and its subclass
    ``InvalidRecordError`` on malformed records, on a record count that does not match the header,
    or on bytes left after the last record (Kafka's "Incorrect declared batch size"). Header keys
    that are not UTF-8 are decoded with replacement characters, as Java's ``new String`` does.
    """
    with memoryview(buf) as view:
        section = view[pos + BATCH_HEADER_SIZE : pos + header.size]
        if len(section) != header.size - BATCH_HEADER_SIZE:
            raise CorruptRecordError(f"batch at {pos} is truncated")
        data: Buffer = decompress(header.compression, section) if header.compression else section
        try:
            return _decode_section(data, header)
        except InvalidRecordError:
            raise
        except CorruptRecordError as exc:  # the section decompressed; its records are malformed
            raise InvalidRecordError(str(exc)) from None
        finally:
            section.release()


def _decode_section(data: Buffer, header: BatchHeader) -> list[Record]:
    if header.records_count < 0:
        raise CorruptRecordError(f"negative record count {header.records_count}")
    log_append_time = header.timestamp_type == 1
    records = []
    pos = 0
    for _ in range(header.records_count):
        record, pos = _decode_record(data, pos, header, log_append_time)
        records.append(record)
    if pos != len(data):
        raise CorruptRecordError(f"{len(data) - pos} bytes after the last declared record")
    return records


def _decode_record(
    data: Buffer, pos: int, header: BatchHeader, log_append_time: bool
) -> tuple[Record, int]:
    length, pos = read_varint(data, pos)
    end = pos + length
    if length < 0 or end > len(data):
        raise CorruptRecordError(f"bad record length {length}")
    pos += 1  # record attributes: unused in v2
    timestamp_delta, pos = read_varlong(data, pos)
    offset_delta, pos = read_varint(data, pos)
    key, pos = _read_bytes(data, pos, end)
    value, pos = _read_bytes(data, pos, end)
    headers, pos = _read_headers(data, pos, end)
    if pos != end:
        raise CorruptRecordError(f"record declared {length} bytes, read {length - end + pos}")
    timestamp = header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
    return Record(header.base_offset + offset_delta, timestamp, key, value, headers), pos


def _read_bytes(data: Buffer, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(data, pos)
    if length < 0:
        if length != -1:  # librdkafka cannot read it; produce refuses it (record_framing)
            raise CorruptRecordError(f"field length {length} below -1")
        return None, pos
    if pos + length > end:
        raise CorruptRecordError(f"field of {length} bytes overruns its record")
    return bytes(data[pos : pos + length]), pos + length


def _read_headers(data: Buffer, pos: int, end: int) -> tuple[tuple[Header, ...], int]:
    count, pos = read_varint(data, pos)
    if count < 0 or count > end - pos:
        raise CorruptRecordError(f"bad header count {count}")
    headers = []
    for _ in range(count):
        key, pos = _read_bytes(data, pos, end)
        if key is None:
            raise CorruptRecordError("null record header key")
        value, pos = _read_bytes(data, pos, end)
        headers.append((key.decode("utf-8", errors="replace"), value))
    return tuple(headers), pos


def control_record_type(buf: Buffer, pos: int, header: BatchHeader) -> int:
    """The type in a control batch's record key: 0 abort, 1 commit (others as written)."""
    if not header.is_control:
        raise CorruptRecordError(f"batch at {pos} is not a control batch")
    records = decode_records(buf, pos, header)
    if not records or records[0].key is None or len(records[0].key) < _CONTROL_KEY.size:
        raise CorruptRecordError(f"control batch at {pos} has no valid control record key")
    version, record_type = _CONTROL_KEY.unpack_from(records[0].key)
    if version < 0:
        raise CorruptRecordError(f"control record key version {version}")
    return int(record_type)


# --- building batches ----------------------------------------------------------------------------


def build_batch(
    records: Sequence[tuple[bytes | None, bytes | None, Sequence[Header], int]],
    *,
    base_offset: int = 0,
    compression: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = -1,
    timestamp_type: int = 0,
) -> bytes:
    """A v2 batch of ``(key, value, headers, timestamp_ms)`` records, offsets from ``base_offset``.

    The base timestamp is the first record's, the max timestamp the largest (Kafka's
    ``MemoryRecordsBuilder``). ``timestamp_type=1`` only sets the attribute bit.
    """
    if not records:
        raise ValueError("a record batch needs at least one record")
    base_timestamp = records[0][3]
    section = bytearray()
    for offset_delta, (key, value, headers, timestamp) in enumerate(records):
        _append_record(section, offset_delta, timestamp - base_timestamp, key, value, headers)
    if compression:
        section = bytearray(compress(compression, section))
    attributes = (
        compression
        | (_TIMESTAMP_TYPE_BIT if timestamp_type == 1 else 0)
        | (_TRANSACTIONAL_BIT if transactional else 0)
        | (_CONTROL_BIT if control else 0)
    )
    batch = bytearray(BATCH_HEADER_SIZE) + section
    _HEADER.pack_into(
        batch,
        0,
        base_offset,
        len(batch) - RECORD_BATCH_OVERHEAD,
        partition_leader_epoch,
        MAGIC_V2,
        0,  # crc, written below
        attributes,
        len(records) - 1,
        base_timestamp,
        max(record[3] for record in records),
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    _write_crc(batch, 0, len(batch))
    return bytes(batch)


def _append_record(
    out: bytearray,
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
) -> None:
    body = bytearray(b"\x00")  # record attributes
    write_varlong(body, timestamp_delta)
    write_varint(body, offset_delta)
    _append_bytes(body, key)
    _append_bytes(body, value)
    write_varint(body, len(headers))
    for header_key, header_value in headers:
        _append_bytes(body, header_key.encode("utf-8"))
        _append_bytes(body, header_value)
    write_varint(out, len(body))
    out += body


def _append_bytes(out: bytearray, value: bytes | None) -> None:
    if value is None:
        write_varint(out, -1)
        return
    write_varint(out, len(value))
    out += value


def build_control_batch(
    commit: bool,
    *,
    base_offset: int,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp_ms: int,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker: a transactional control batch with one commit or abort record."""
    key = _CONTROL_KEY.pack(0, CONTROL_COMMIT if commit else CONTROL_ABORT)
    value = _CONTROL_VALUE.pack(0, coordinator_epoch)
    return build_batch(
        [(key, value, (), timestamp_ms)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )
