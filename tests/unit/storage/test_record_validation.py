"""LogValidator's record checks on the leader path (issue 19, bug 2): what Kafka refuses is refused,
on both append paths, and nothing is written; a batch already stored does not break lookups."""

from __future__ import annotations

import struct
from collections.abc import Callable

import cramjam
import pytest
from crc32c import crc32c
from storage_batches import BASE_TS, LogFactory, batch

from riverlog.protocol import errors as protocol_errors
from riverlog.protocol.compression import GZIP, LZ4, SNAPPY, ZSTD, compress
from riverlog.protocol.records import BATCH_HEADER_SIZE, build_batch
from riverlog.storage import AppendOrigin, PartitionLog
from riverlog.storage.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    RecordTooLargeError,
)
from riverlog.storage.validator import decompressed_limit

NOW = BASE_TS
# The batch of the reproducer frame: gzip attributes, a payload that is not gzip.
REPRODUCER = bytes.fromhex(
    "00000000000000000000003dffffffff02f81d8765000100000000000001a251bb5215000001a251bb5215"
    "ffffffffffffffffffffffffffff000000011f8b08006761726261676521000000"
)


def with_section(template: bytes, section: bytes, attributes: int | None = None) -> bytes:
    """`template`'s header over `section`, with batch length and CRC made right."""
    out = bytearray(template[:BATCH_HEADER_SIZE] + section)
    struct.pack_into(">i", out, 8, len(out) - 12)
    if attributes is not None:
        struct.pack_into(">h", out, 21, attributes)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def uncompressed_section(count: int = 2) -> bytes:
    return batch(count)[BATCH_HEADER_SIZE:]


CORRUPT: dict[str, Callable[[], bytes]] = {
    "the issue's reproducer (gzip header, garbage payload)": lambda: REPRODUCER,
    "gzip payload that is not gzip": lambda: with_section(batch(2), b"not gzip at all", GZIP),
    "snappy payload that is not snappy": lambda: with_section(batch(2), b"\xff" * 20, SNAPPY),
    "lz4 payload that is not lz4": lambda: with_section(batch(2), b"garbage!" * 4, LZ4),
    "zstd payload that is not zstd": lambda: with_section(batch(2), b"garbage!" * 4, ZSTD),
    "lz4 frame cut short": lambda: with_section(
        batch(2), compress(LZ4, uncompressed_section())[:-6], LZ4
    ),
    "codec id 5": lambda: with_section(batch(2), uncompressed_section(), 5),
    "codec id 6": lambda: with_section(batch(2), uncompressed_section(), 6),
    "codec id 7": lambda: with_section(batch(2), uncompressed_section(), 7),
}

INVALID: dict[str, Callable[[], bytes]] = {
    "one record missing": lambda: with_section(batch(3), uncompressed_section(2)),
    "a byte after the last record": lambda: with_section(batch(2), uncompressed_section() + b"\0"),
    "record length overruns the batch": lambda: with_section(
        batch(1), b"\x7e" + uncompressed_section(1)[1:]
    ),
    "offset deltas 0, 0": lambda: with_section(
        batch(2), uncompressed_section(1) + uncompressed_section(1)
    ),
    "gzip of malformed records": lambda: with_section(
        batch(2), compress(GZIP, uncompressed_section(1)), GZIP
    ),
    "zstd of records with a trailing byte": lambda: with_section(
        batch(2), compress(ZSTD, uncompressed_section() + b"\x00"), ZSTD
    ),
}


def appenders(log: PartitionLog) -> list[Callable[[bytes], object]]:
    """The fast single-batch path and the general one (the same checks, two code paths)."""
    return [
        lambda b: log.append(b, leader_epoch=0, now_ms=NOW),
        lambda b: log._append_batches(b, 0, NOW, AppendOrigin.CLIENT),
    ]


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_undecodable_batches_are_corrupt_and_not_written(open_log: LogFactory, name: str) -> None:
    log = open_log()
    bad = CORRUPT[name]()
    for append in appenders(log):
        with pytest.raises(CorruptRecordError) as raised:
            append(bad)
        assert not isinstance(raised.value, InvalidRecordError)
    assert log.log_end_offset == 0 and log.size_in_bytes == 0


@pytest.mark.parametrize("name", sorted(INVALID))
def test_malformed_records_are_invalid_and_not_written(open_log: LogFactory, name: str) -> None:
    log = open_log()
    bad = INVALID[name]()
    for append in appenders(log):
        with pytest.raises(InvalidRecordError):
            append(bad)
    assert log.log_end_offset == 0 and log.size_in_bytes == 0


@pytest.mark.parametrize("codec", [0, GZIP, SNAPPY, LZ4, ZSTD])
def test_valid_batches_of_every_codec_are_appended(open_log: LogFactory, codec: int) -> None:
    log = open_log()
    for append in appenders(log):
        append(batch(50, compression=codec))
    assert log.log_end_offset == 100


def test_a_decompression_bomb_is_too_large_not_allocated(open_log: LogFactory) -> None:
    log = open_log(max_message_bytes=100_000)
    limit = decompressed_limit(log.config)
    # A zstd frame of RLE blocks (128 KiB each, 4 bytes of input) claiming more than the limit.
    blocks = bytearray()
    count = limit // ((1 << 17) - 1) + 2
    for i in range(count):
        last = 1 if i == count - 1 else 0
        blocks += ((((1 << 17) - 1) << 3) | (1 << 1) | last).to_bytes(3, "little") + b"x"
    frame = struct.pack("<I", 0xFD2FB528) + b"\x00\x58" + bytes(blocks)
    assert len(frame) < 100_000
    for append in appenders(log):
        with pytest.raises(RecordTooLargeError, match="decompress to more than"):
            append(with_section(batch(2), frame, ZSTD))
    # A raw snappy block claiming 4 GiB is refused before anything is allocated.
    huge = with_section(batch(2), b"\xff\xff\xff\xff\x0f" + b"\x00" * 8, SNAPPY)
    with pytest.raises(RecordTooLargeError):
        log.append(huge, leader_epoch=0, now_ms=NOW)
    assert log.log_end_offset == 0


def test_highly_compressible_batches_within_the_limit_are_appended(open_log: LogFactory) -> None:
    log = open_log()
    big = build_batch([(None, b"\0" * 1_000_000, (), NOW)] * 20, compression=ZSTD)
    assert len(big) < 100_000  # 20 MB of records in a few KB: the output buffer grows 4x a step
    assert log.append(big, leader_epoch=0, now_ms=NOW).records_count == 20


def test_each_record_timestamp_is_checked_and_named(open_log: LogFactory) -> None:
    log = open_log(message_timestamp_before_max_ms=1000, message_timestamp_after_max_ms=1000)
    # Base and max timestamps are in range; the second record is 5 s early.
    stamps = [NOW, NOW - 5000, NOW + 10]
    for append in appenders(log):
        with pytest.raises(InvalidTimestampError, match=r"before\.max\.ms") as raised:
            append(batch(3, timestamps=stamps))
        ((index, message),) = raised.value.record_errors
        assert index == 1 and f"Timestamp {NOW - 5000} " in (message or "")
    log.append(batch(3, timestamps=[NOW, NOW - 900, NOW + 10]), leader_epoch=0, now_ms=NOW)
    assert log.log_end_offset == 3


def test_producer_log_append_time_on_a_log_append_time_topic(open_log: LogFactory) -> None:
    log = open_log(message_timestamp_type="LogAppendTime")
    stamped = build_batch([(b"k", b"v", (), NOW)], timestamp_type=1)
    with pytest.raises(InvalidTimestampError, match="LogAppendTime") as raised:
        log.append(stamped, leader_epoch=0, now_ms=NOW)
    assert [index for index, _ in raised.value.record_errors] == [0]


def test_compacted_topic_names_each_record_without_key(open_log: LogFactory) -> None:
    log = open_log(cleanup_policy=("compact",))
    records = [(b"k", b"v", (), NOW), (None, b"v", (), NOW), (None, b"v", (), NOW)]
    for codec in (0, LZ4):
        with pytest.raises(InvalidRecordError, match="without key") as raised:
            log.append(build_batch(records, compression=codec), leader_epoch=0, now_ms=NOW)
        assert [index for index, _ in raised.value.record_errors] == [1, 2]
    assert log.log_end_offset == 0


def test_followers_store_what_the_leader_wrote(open_log: LogFactory) -> None:
    # Kafka validates records on the leader only; a follower copies batches as they are.
    log = open_log()
    log.append_as_follower(INVALID["one record missing"]())
    assert log.log_end_offset == 3


def test_lookup_by_timestamp_over_a_stored_corrupt_batch_raises_a_record_error(
    open_log: LogFactory,
) -> None:
    """A batch stored before validation walked records (here through the follower path, which
    does not walk them) makes the lookup raise, which ListOffsets answers per partition."""
    log = open_log()
    log.append(batch(2, ts=NOW), leader_epoch=0, now_ms=NOW)
    stored = bytearray(with_section(batch(2, ts=NOW + 100), b"garbage!" * 4, LZ4))
    stored[0:8] = (2).to_bytes(8, "big")  # base offset 2, right after the first batch
    log.append_as_follower(bytes(stored))
    log.append_as_follower(
        bytes((4).to_bytes(8, "big")) + batch(1, ts=NOW + 200)[8:]
    )  # a good batch after it
    assert log.offset_for_timestamp(NOW + 1) == (1, NOW + 1)
    with pytest.raises(protocol_errors.CorruptRecordError):
        log.offset_for_timestamp(NOW + 100)


def test_lz4_bomb_of_cramjam_reports_a_full_buffer() -> None:
    # riverlog.protocol.compression tells "output buffer too small" from corrupt input by
    # cramjam's message; a cramjam release that words it differently must fail here first.
    data = bytes(cramjam.lz4.compress(b"\0" * 100_000))
    with pytest.raises(cramjam.DecompressionError, match="failed to write whole buffer"):
        cramjam.lz4.decompress_into(data, bytearray(1000))


def test_a_header_max_timestamp_other_than_the_records_is_rewritten(open_log: LogFactory) -> None:
    # Kafka stores the records' max timestamp (setMaxTimestamp); a header claiming a far future
    # would otherwise keep its segment from time-based retention and mislead ListOffsets.
    from riverlog.protocol.records import crc_ok, iter_batches, parse_header

    log = open_log()
    for codec in (0, ZSTD):
        lying = bytearray(batch(3, ts=NOW, compression=codec))
        struct.pack_into(">q", lying, 35, NOW + 10**9)
        struct.pack_into(">I", lying, 17, crc32c(bytes(lying[21:])))
        for append in appenders(log):
            before = log.log_end_offset
            append(bytes(lying))
            data = log.read(before, 100_000).read()
            ((pos, header),) = list(iter_batches(data))
            assert header.max_timestamp == NOW + 2 and crc_ok(data, pos, header)
    assert parse_header(log.read(0, 100_000).read()).max_timestamp == NOW + 2
    assert log.offset_for_timestamp(NOW + 2) == (2, NOW + 2)
