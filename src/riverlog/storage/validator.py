"""Batch validation before an append (Kafka's LogValidator / analyzeAndValidateRecords).

Headers are read for every append; the records of every batch a client writes are walked too
(`protocol.record_framing`), decompressed first when the batch is compressed, because a batch whose
CRC is right can still hold records no reader can decode, and once stored it would stall every
consumer of the partition at its offset. A request is validated as a whole before anything is
written, so a rejected append leaves no trace in the log.

Rules for the leader path (origin CLIENT), in Kafka's order:
- every batch is whole, magic 2, `batch_length` sane (CorruptRecordError);
- size <= max.message.bytes (RecordTooLargeError);
- CRC32C matches (CorruptRecordError);
- records_count == last_offset_delta + 1 and > 0 (InvalidRecordError);
- not a control batch, and an idempotent batch has a sequence (InvalidRecordError);
- the codec id is 0-4 (CorruptRecordError) and a compressed records section decompresses
  (CorruptRecordError) to at most `decompressed_limit` bytes (RecordTooLargeError);
- the records section holds exactly records_count well-framed records with offset deltas 0..n-1
  (InvalidRecordError; see record_framing for every rule);
- CreateTime topics: every record's timestamp within message.timestamp.before/after.max.ms of
  now, and no batch claiming LogAppendTime (InvalidTimestampError naming each record);
- compacted topics: no null keys (InvalidRecordError naming each record).
A CreateTime batch whose header states a max timestamp other than its records' is stored with the
records' (Kafka's setMaxTimestamp), so time indexes and retention see what the records say.
The follower and coordinator paths check framing, size and CRC only, as Kafka's do.

Where riverlog answers differently from Kafka, and why: Kafka throws an unexpected exception for an
unknown codec id or a compressed section that does not decompress (its clients see
UNKNOWN_SERVER_ERROR); riverlog answers CORRUPT_MESSAGE, which says what is wrong. Kafka decompresses
as a stream with no size limit; riverlog decompresses into memory and so bounds the output.
Kafka rebuilds a compressed batch whose offset deltas are not 0..n-1; riverlog refuses it (no v2
client writes one).

Cost: the walk is one tight loop over the records, about 50 ns a record where the build compiled it
with mypyc (setup.py) and about 1.3 us as pure Python; bench/RESULTS.md ("Record validation") has
the before/after produce figures.
"""

from __future__ import annotations

import struct

from crc32c import crc32c

from riverlog.protocol import errors as protocol_errors
from riverlog.protocol.compression import ZSTD, DecompressedSizeError, decompress
from riverlog.protocol.record_framing import record_summaries, walk_records
from riverlog.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    MAGIC_V2,
    RECORD_BATCH_OVERHEAD,
    BatchHeader,
)
from riverlog.storage.config import LogConfig
from riverlog.storage.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    RecordErrors,
    RecordTooLargeError,
)
from riverlog.storage.producer_append import AppendOrigin

Buffer = bytes | bytearray | memoryview

HEADER_STRUCT = struct.Struct(">qiibIhiqqqhii")
_HEADER = HEADER_STRUCT
_MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - RECORD_BATCH_OVERHEAD
_new_tuple = tuple.__new__
_CODEC_MASK = 0x07
_LOG_APPEND_TIME_BIT = 0x08
_NO_TIMESTAMP = -1
# A compressed records section may decompress to 64x max.message.bytes, at least 64 MiB and at
# most 1 GiB: far above what producers write (librdkafka's batch.size bounds the uncompressed
# size, 1 MB by default), far below what would hurt the broker.
_DECOMPRESSION_RATIO = 64
_MIN_DECOMPRESSED_LIMIT = 64 << 20
_MAX_DECOMPRESSED_LIMIT = 1 << 30
_SHOWN_RECORD_ERRORS = 3  # Kafka's message quotes the first three


# The protocol's batch header is a NamedTuple: cheap to build on the append path.
Header = BatchHeader


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
    """Parse and validate an append; returns (position, header) of each batch, a client batch's
    header carrying its records' max timestamp where the batch states another."""
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
        data = buf if isinstance(buf, bytes) else bytes(buf)
        for index, (pos, header) in enumerate(batches):
            check_client_batch(header)
            records_max = check_records(data, pos, header, config, now_ms)
            if records_max is not None:  # the caller rewrites the header, as Kafka does
                batches[index] = (pos, header._replace(max_timestamp=records_max))
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


def check_records(
    data: bytes, pos: int, header: Header, config: LogConfig, now_ms: int
) -> int | None:
    """The record-level checks of a client batch at `pos` (after its header checks): codec,
    decompression, framing, timestamps, compacted keys. Returns the records' max timestamp when
    the header of a CreateTime batch states another (Kafka rewrites it), else None."""
    start, end = pos + BATCH_HEADER_SIZE, pos + header.batch_length + RECORD_BATCH_OVERHEAD
    codec = header.attributes & _CODEC_MASK
    if codec:
        data = _decompressed(data, start, end, codec, config)
        start, end = 0, len(data)
    count = header.records_count
    try:
        low, high = walk_records(data, start, end, count)
    except protocol_errors.InvalidRecordError as exc:
        raise InvalidRecordError(str(exc)) from None
    if header.attributes & _LOG_APPEND_TIME_BIT:
        _refuse_log_append_time(header, config)
    if not config.log_append_time:
        window_low = now_ms - config.message_timestamp_before_max_ms
        window_high = now_ms + config.message_timestamp_after_max_ms
        if header.attributes & _LOG_APPEND_TIME_BIT:
            low = high = header.max_timestamp - header.base_timestamp
        if header.base_timestamp + low < window_low or header.base_timestamp + high > window_high:
            _check_timestamps(data, start, header, window_low, window_high, config)
    if config.compact:
        _check_keys(data, start, header)
    if header.attributes & _LOG_APPEND_TIME_BIT or config.log_append_time:
        return None
    records_max = header.base_timestamp + high
    return records_max if records_max != header.max_timestamp else None


def decompressed_limit(config: LogConfig) -> int:
    """The most bytes a client batch's records section may decompress to."""
    limit = _DECOMPRESSION_RATIO * config.max_message_bytes
    return min(_MAX_DECOMPRESSED_LIMIT, max(_MIN_DECOMPRESSED_LIMIT, limit))


def _decompressed(data: bytes, start: int, end: int, codec: int, config: LogConfig) -> bytes:
    if codec > ZSTD:
        raise CorruptRecordError(f"Record batch uses unknown compression codec id {codec}")
    limit = decompressed_limit(config)
    try:
        with memoryview(data) as view, view[start:end] as section:
            return decompress(codec, section, limit)
    except DecompressedSizeError:
        raise RecordTooLargeError(
            f"The records of the batch decompress to more than {limit} bytes"
        ) from None
    except protocol_errors.CorruptRecordError as exc:
        raise CorruptRecordError(f"Record batch does not decompress: {exc}") from None


def _refuse_log_append_time(header: Header, config: LogConfig) -> None:
    """Kafka refuses a producer's LogAppendTime batch unless a CreateTime topic can check its
    records' timestamps (they all read as the batch's max timestamp)."""
    if config.log_append_time or header.max_timestamp == _NO_TIMESTAMP:
        message = "Producer should not set timestamp type to LogAppendTime."
        errors = tuple((index, message) for index in range(header.records_count))
        raise InvalidTimestampError(
            "One or more records have been rejected due to invalid timestamp: " + message, errors
        )


def _check_timestamps(
    data: bytes, start: int, header: Header, low: int, high: int, config: LogConfig
) -> None:
    """Name every record whose timestamp is outside [low, high] (Kafka's validateTimestamp)."""
    log_append_time = bool(header.attributes & _LOG_APPEND_TIME_BIT)
    errors: list[tuple[int, str | None]] = []
    for index, (delta, _) in enumerate(record_summaries(data, start, header.records_count)):
        timestamp = header.max_timestamp if log_append_time else header.base_timestamp + delta
        if timestamp != _NO_TIMESTAMP and not low <= timestamp <= high:
            errors.append(
                (
                    index,
                    f"Timestamp {timestamp} of message with offset {header.base_offset + index} "
                    f"is out of range. The timestamp should be within [{low}, {high}]",
                )
            )
    if errors:
        raise InvalidTimestampError(
            "One or more records have been rejected due to invalid timestamp "
            f"(message.timestamp.before.max.ms={config.message_timestamp_before_max_ms}, "
            f"message.timestamp.after.max.ms={config.message_timestamp_after_max_ms}): "
            f"{_shown(tuple(errors))}",
            tuple(errors),
        )


def _check_keys(data: bytes, start: int, header: Header) -> None:
    message = "Compacted topic cannot accept message without key"
    errors: RecordErrors = tuple(
        (index, message)
        for index, (_, has_key) in enumerate(record_summaries(data, start, header.records_count))
        if not has_key
    )
    if errors:
        raise InvalidRecordError(
            f"One or more records have been rejected due to {len(errors)} record errors in "
            f"total, and only showing the first three errors at most: {_shown(errors)}",
            errors,
        )


def _shown(errors: RecordErrors) -> str:
    return "; ".join(f"record {i}: {m}" for i, m in errors[:_SHOWN_RECORD_ERRORS])
