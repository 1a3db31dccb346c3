"""Record batch v2: header, iteration, CRC, in-place patches, records, control batches."""

from __future__ import annotations

import struct

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from riverlog.protocol.errors import CorruptRecordError
from riverlog.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CONTROL_ABORT,
    CONTROL_COMMIT,
    RECORD_BATCH_OVERHEAD,
    BatchHeader,
    Record,
    build_batch,
    build_control_batch,
    control_record_type,
    crc_ok,
    decode_records,
    iter_batches,
    parse_header,
    patch_base_offset,
    patch_leader_epoch,
    set_log_append_time,
)

CODECS = [0, 1, 2, 3, 4]

RecordTuple = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]

records_strategy = st.lists(
    st.tuples(
        st.none() | st.binary(max_size=40),
        st.none() | st.binary(max_size=200),
        st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=10)), max_size=3),
        st.integers(min_value=0, max_value=2**42),
    ),
    min_size=1,
    max_size=20,
)


def simple_batch(**kwargs: object) -> bytes:
    records = [(b"k1", b"v1", [("h", b"1")], 1_000), (None, b"v2", [], 1_005)]
    return build_batch(records, **kwargs)  # type: ignore[arg-type]


# --- header --------------------------------------------------------------------------------------


def test_header_fields_and_properties() -> None:
    batch = simple_batch(
        base_offset=100,
        compression=0,
        producer_id=7,
        producer_epoch=3,
        base_sequence=10,
        transactional=True,
        partition_leader_epoch=5,
    )
    header = parse_header(batch)
    assert header == BatchHeader(
        base_offset=100,
        batch_length=len(batch) - RECORD_BATCH_OVERHEAD,
        partition_leader_epoch=5,
        magic=2,
        crc=crc32c(batch[ATTRIBUTES_OFFSET:]),
        attributes=0x10,
        last_offset_delta=1,
        base_timestamp=1_000,
        max_timestamp=1_005,
        producer_id=7,
        producer_epoch=3,
        base_sequence=10,
        records_count=2,
    )
    assert header.size == len(batch)
    assert (header.last_offset, header.next_offset) == (101, 102)
    assert header.is_transactional and not header.is_control
    assert (header.compression, header.timestamp_type) == (0, 0)
    assert not header.has_delete_horizon
    assert header.last_sequence == 11


def test_attribute_bits() -> None:
    header = parse_header(simple_batch(compression=4, timestamp_type=1))
    assert header.compression == 4
    assert header.timestamp_type == 1
    raw = bytearray(simple_batch())
    struct.pack_into(">h", raw, ATTRIBUTES_OFFSET, 0x40 | 0x20)
    header = parse_header(raw)
    assert header.has_delete_horizon and header.is_control and not header.is_transactional


def test_last_sequence_wraps_like_kafka() -> None:
    header = parse_header(simple_batch(producer_id=1, producer_epoch=0, base_sequence=2**31 - 1))
    assert header.last_sequence == 0
    assert parse_header(simple_batch()).last_sequence == -1


def test_header_layout_is_61_big_endian_bytes() -> None:
    batch = simple_batch(base_offset=0x0102030405060708, partition_leader_epoch=0x0A0B0C0D)
    assert BATCH_HEADER_SIZE == 61
    assert batch[:8] == bytes.fromhex("0102030405060708")
    assert batch[12:16] == bytes.fromhex("0a0b0c0d")
    assert batch[16] == 2
    assert struct.unpack_from(">i", batch, 57)[0] == 2  # records count


def test_parse_header_rejects_short_wrong_magic_and_tiny_length() -> None:
    batch = simple_batch()
    with pytest.raises(CorruptRecordError):
        parse_header(batch[:60])
    wrong_magic = bytearray(batch)
    wrong_magic[16] = 1
    with pytest.raises(CorruptRecordError):
        parse_header(wrong_magic)
    tiny = bytearray(batch)
    struct.pack_into(">i", tiny, 8, 48)
    with pytest.raises(CorruptRecordError):
        parse_header(tiny)


def test_parse_header_at_position() -> None:
    first, second = simple_batch(base_offset=0), simple_batch(base_offset=2)
    assert parse_header(first + second, len(first)).base_offset == 2


# --- iteration -----------------------------------------------------------------------------------


def test_iter_batches_finds_each_batch() -> None:
    batches = [simple_batch(base_offset=i * 2, compression=i % 5) for i in range(5)]
    buffer = b"".join(batches)
    found = list(iter_batches(buffer))
    positions = [sum(len(b) for b in batches[:i]) for i in range(5)]
    assert [pos for pos, _ in found] == positions
    assert [header.base_offset for _, header in found] == [0, 2, 4, 6, 8]
    assert list(iter_batches(b"")) == []


@pytest.mark.parametrize("cut", [1, 12, 60, 61, 70])
def test_truncated_tail_raises_or_stops(cut: int) -> None:
    whole = simple_batch() + simple_batch(base_offset=2)
    torn = whole[: len(whole) - cut]
    with pytest.raises(CorruptRecordError):
        list(iter_batches(torn))
    assert [h.base_offset for _, h in iter_batches(torn, allow_partial_tail=True)] == [0]


def test_iter_batches_works_on_memoryview() -> None:
    buffer = memoryview(simple_batch() + simple_batch(base_offset=2))
    assert len(list(iter_batches(buffer))) == 2


# --- CRC and patches -----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_flip_in_crc_range_is_detected(data: st.DataObject) -> None:
    batch = bytearray(simple_batch(compression=data.draw(st.sampled_from(CODECS))))
    header = parse_header(batch)
    assert crc_ok(batch, 0, header)
    position = data.draw(st.integers(min_value=ATTRIBUTES_OFFSET, max_value=len(batch) - 1))
    batch[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    assert not crc_ok(batch, 0, header)


def test_crc_mismatch_in_header_is_detected() -> None:
    batch = bytearray(simple_batch())
    batch[17] ^= 0xFF
    assert not crc_ok(batch, 0, parse_header(batch))


def test_patches_keep_crc_valid_and_move_offsets() -> None:
    prefix = simple_batch()
    buffer = bytearray(prefix + simple_batch(compression=2))
    pos = len(prefix)
    patch_base_offset(buffer, pos, 5_000)
    patch_leader_epoch(memoryview(buffer), pos, 42)
    header = parse_header(buffer, pos)
    assert (header.base_offset, header.partition_leader_epoch) == (5_000, 42)
    assert crc_ok(buffer, pos, header)
    assert [r.offset for r in decode_records(buffer, pos, header)] == [5_000, 5_001]
    assert crc_ok(buffer, 0, parse_header(buffer))  # neighbour untouched


@pytest.mark.parametrize("codec", CODECS)
def test_set_log_append_time(codec: int) -> None:
    prefix = simple_batch()
    buffer = bytearray(prefix + simple_batch(compression=codec, transactional=True, producer_id=1))
    pos = len(prefix)
    set_log_append_time(memoryview(buffer), pos, 99_999)
    header = parse_header(buffer, pos)
    assert crc_ok(buffer, pos, header)
    assert header.timestamp_type == 1
    assert header.max_timestamp == 99_999
    assert header.base_timestamp == 1_000  # untouched, as Kafka does
    assert (header.compression, header.is_transactional) == (codec, True)
    assert [r.timestamp for r in decode_records(buffer, pos, header)] == [99_999, 99_999]


# --- records -------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    records=records_strategy,
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=2**62),
)
def test_records_round_trip(records: list[RecordTuple], codec: int, base_offset: int) -> None:
    batch = build_batch(records, base_offset=base_offset, compression=codec)
    (pos, header), *rest = list(iter_batches(batch))
    assert rest == [] and pos == 0
    assert crc_ok(batch, 0, header)
    assert header.compression == codec
    assert header.records_count == len(records)
    assert header.max_timestamp == max(r[3] for r in records)
    assert decode_records(batch, 0, header) == [
        Record(base_offset + i, ts, key, value, tuple(headers))
        for i, (key, value, headers, ts) in enumerate(records)
    ]


def test_build_batch_needs_a_record() -> None:
    with pytest.raises(ValueError):
        build_batch([])


def test_record_encoding_matches_the_spec_by_hand() -> None:
    batch = build_batch([(b"k", None, [("h", b"v")], 10)], base_offset=0)
    section = batch[BATCH_HEADER_SIZE:]
    # length 11 -> zigzag 22; attrs 0; ts delta 0; offset delta 0; key len 1 -> 2, "k";
    # value null -1 -> 1; 1 header -> 2; key len 1 -> 2 "h"; value len 1 -> 2 "v"
    assert section == bytes([22, 0, 0, 0, 2]) + b"k" + bytes([1, 2, 2]) + b"h" + bytes([2]) + b"v"


def _uncompressed_with_count(count: int) -> bytearray:
    batch = bytearray(simple_batch())
    struct.pack_into(">i", batch, 57, count)
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[ATTRIBUTES_OFFSET:])))
    return batch


@pytest.mark.parametrize("count", [1, 3, -1])
def test_record_count_mismatch_is_corrupt(count: int) -> None:
    batch = _uncompressed_with_count(count)
    with pytest.raises(CorruptRecordError):
        decode_records(batch, 0, parse_header(batch))


def test_record_length_mismatch_is_corrupt() -> None:
    batch = bytearray(simple_batch())
    batch[BATCH_HEADER_SIZE] += 2  # first record claims one more byte than it has
    with pytest.raises(CorruptRecordError):
        decode_records(batch, 0, parse_header(batch))


def test_truncated_batch_is_corrupt() -> None:
    batch = simple_batch()
    header = parse_header(batch)
    with pytest.raises(CorruptRecordError):
        decode_records(batch[:-3], 0, header)


@settings(max_examples=150, deadline=None)
@given(
    codec=st.sampled_from(CODECS),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1),
)
def test_fuzz_damaged_records_decode_or_raise_corrupt(
    codec: int, flips: list[tuple[int, int]]
) -> None:
    batch = bytearray(simple_batch(compression=codec))
    for position, value in flips:
        batch[BATCH_HEADER_SIZE + position % (len(batch) - BATCH_HEADER_SIZE)] = value
    try:
        records = decode_records(batch, 0, parse_header(batch))
    except CorruptRecordError:
        return
    assert len(records) == 2


@settings(max_examples=200, deadline=None)
@given(buffer=st.binary(max_size=300), allow_partial_tail=st.booleans())
def test_fuzz_arbitrary_bytes_only_raise_corrupt(buffer: bytes, allow_partial_tail: bool) -> None:
    try:
        for pos, header in iter_batches(buffer, allow_partial_tail):
            crc_ok(buffer, pos, header)
            decode_records(buffer, pos, header)
    except CorruptRecordError:
        pass


@settings(max_examples=100, deadline=None)
@given(header_fields=st.binary(min_size=44, max_size=44), tail=st.binary(max_size=100))
def test_fuzz_valid_framing_random_contents(header_fields: bytes, tail: bytes) -> None:
    # Whole, magic-2 batches with random attributes, counts, codecs and records section.
    length = BATCH_HEADER_SIZE - RECORD_BATCH_OVERHEAD + len(tail)
    buffer = struct.pack(">qiib", 0, length, 0, 2) + header_fields + tail
    for pos, header in iter_batches(buffer):
        try:
            decode_records(buffer, pos, header)
        except CorruptRecordError:
            pass


# --- control batches -----------------------------------------------------------------------------


@pytest.mark.parametrize(("commit", "expected"), [(True, CONTROL_COMMIT), (False, CONTROL_ABORT)])
def test_control_batch(commit: bool, expected: int) -> None:
    batch = build_control_batch(
        commit,
        base_offset=77,
        producer_id=12,
        producer_epoch=4,
        coordinator_epoch=9,
        timestamp_ms=123,
        partition_leader_epoch=2,
    )
    header = parse_header(batch)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (12, 4, -1)
    assert (header.base_offset, header.partition_leader_epoch, header.records_count) == (77, 2, 1)
    assert crc_ok(batch, 0, header)
    assert control_record_type(batch, 0, header) == expected
    (record,) = decode_records(batch, 0, header)
    assert record.key == struct.pack(">hh", 0, expected)
    assert record.value == struct.pack(">hi", 0, 9)
    assert (record.offset, record.timestamp) == (77, 123)


def test_control_record_type_refuses_data_batches() -> None:
    batch = simple_batch()
    with pytest.raises(CorruptRecordError):
        control_record_type(batch, 0, parse_header(batch))


def test_control_record_with_short_key_is_corrupt() -> None:
    batch = build_batch([(b"\x00", None, [], 0)], control=True, transactional=True)
    with pytest.raises(CorruptRecordError):
        control_record_type(batch, 0, parse_header(batch))
