"""Batch validation before an append (Kafka's LogValidator / analyzeAndValidateRecords).

Everything here reads batch headers only, except two rare cases that must decode records:
compacted topics (every record needs a key) and transaction markers. A request is validated
as a whole before anything is written, so a rejected append leaves no trace in the log.

Rules for the leader path (origin CLIENT), in Kafka's order:
- every batch is whole, magic 2, `batch_length` sane (CorruptRecordError);
- size <= max.message.bytes (RecordTooLargeError);
- CRC32C matches (CorruptRecordError);
- records_count == last_offset_delta + 1 and > 0 (InvalidRecordError);
- not a control batch, and an idempotent batch has a sequence (InvalidRecordError);
- CreateTime timestamps within message.timestamp.before/after.max.ms of now
  (InvalidTimestampError; checked on the header's base and max timestamps — per-record
  timestamps are not decoded);
- compacted topics: no null keys (InvalidRecordError).
The follower and coordinator paths check framing, size and CRC only.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from crc32c import crc32c

from riverlog.protocol import errors as protocol_errors
from riverlog.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    MAGIC_V2,
    RECORD_BATCH_OVERHEAD,
    BatchHeader,
    decode_records,
)
from riverlog.storage.config import LogConfig
from riverlog.storage.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    RecordTooLargeError,
)
from riverlog.storage.producer_append import AppendOrigin

Buffer = bytes | bytearray | memoryview

HEADER_STRUCT = struct.Struct(">qiibIhiqqqhii")
_HEADER = HEADER_STRUCT
_MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - RECORD_BATCH_OVERHEAD
_new_tuple = tuple.__new__


# The protocol's batch header is a NamedTuple: cheap to build on the append path.
Header = BatchHeader


class AppendResult(NamedTuple):
    """Where an append went (Kafka's LogAppendInfo, the parts a produce response needs)."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time_ms: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    records_count: int
    valid_bytes: int


def parse_batches(buf: Buffer) -> list[tuple[int, Header]]:
    """(position, header) of every batch; CorruptRecordError unless whole v2 batches."""
    batches = []
    pos, end = 0, len(buf)
    while pos < end:
        if end - pos < BATCH_HEADER_SIZE:
            raise CorruptRecordError(f"Truncated batch header at position {pos}")
        header: Header = Header._make(_HEADER.unpack_from(buf, pos))
        if header.magic != MAGIC_V2:
            raise CorruptRecordError(f"Unsupported record batch magic {header.magic} at {pos}")
        length = header.batch_length
        if length < _MIN_BATCH_LENGTH or pos + length + RECORD_BATCH_OVERHEAD > end:
            raise CorruptRecordError(f"Invalid batch length {length} at position {pos}")
        batches.append((pos, header))
        pos += length + RECORD_BATCH_OVERHEAD
    return batches


def validate_batches(
    buf: Buffer, config: LogConfig, origin: AppendOrigin, now_ms: int
) -> list[tuple[int, Header]]:
    """Parse and validate an append; returns (position, header) of each batch."""
    batches = parse_batches(buf)
    client = origin is AppendOrigin.CLIENT
    max_bytes = config.max_message_bytes
    with memoryview(buf) as view:
        for pos, header in batches:
            size = header.batch_length + RECORD_BATCH_OVERHEAD
            if size > max_bytes:
                raise RecordTooLargeError(
                    f"The record batch size {size} exceeds max.message.bytes {max_bytes}"
                )
            if crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size]) != header.crc:
                raise CorruptRecordError(f"Record batch at position {pos} fails its CRC check")
            if client:
                check_client_batch(header)
                if not config.log_append_time:
                    check_timestamps(header, config, now_ms)
                if config.compact and not header.is_control:
                    _check_keys(buf, pos, header)
    return batches


def check_client_batch(header: Header) -> None:
    count = header.records_count
    if count <= 0 or count != header.last_offset_delta + 1:
        raise InvalidRecordError(
            f"Inconsistent batch offset range (last offset delta {header.last_offset_delta}) "
            f"and count of records {count}"
        )
    if header.is_control:
        raise InvalidRecordError("Clients are not allowed to write control records")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise InvalidRecordError(
            f"Invalid sequence number {header.base_sequence} in record batch with "
            f"producerId {header.producer_id}"
        )


def check_timestamps(header: Header, config: LogConfig, now_ms: int) -> None:
    for timestamp in (header.base_timestamp, header.max_timestamp):
        if timestamp < 0:
            continue
        if now_ms - timestamp > config.message_timestamp_before_max_ms:
            raise InvalidTimestampError(
                f"Timestamp {timestamp} of a record is earlier than allowed by "
                f"message.timestamp.before.max.ms={config.message_timestamp_before_max_ms}"
            )
        if timestamp - now_ms > config.message_timestamp_after_max_ms:
            raise InvalidTimestampError(
                f"Timestamp {timestamp} of a record is later than allowed by "
                f"message.timestamp.after.max.ms={config.message_timestamp_after_max_ms}"
            )


def _check_keys(buf: Buffer, pos: int, header: Header) -> None:
    try:
        records = decode_records(buf, pos, header)
    except protocol_errors.CorruptRecordError as exc:
        raise CorruptRecordError(str(exc)) from exc
    if any(record.key is None for record in records):
        raise InvalidRecordError("Compacted topic cannot accept message without key")
