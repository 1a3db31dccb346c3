"""Our record batches against real third-party encoders/decoders: aiokafka and kafka-python.

aiokafka compresses with cramjam in the framings Java uses (xerial snappy, lz4 frames), so it
covers every codec. kafka-python here has only gzip available (its snappy/lz4/zstd need packages
that are not installed), so it is exercised on the codecs it can actually run.
"""

from __future__ import annotations

from typing import Any

import aiokafka.record.default_records as aiokafka_records
import kafka.codec
import kafka.record.default_records as kafka_python_records
import pytest
from aiokafka.record.control_record import ABORT_MARKER, COMMIT_MARKER, ControlRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from riverlog.protocol.records import (
    Record,
    build_batch,
    build_control_batch,
    crc_ok,
    decode_records,
    iter_batches,
)

ALL_CODECS = [0, 1, 2, 3, 4]
KAFKA_PYTHON_CODECS = [
    codec
    for codec, available in [
        (0, True),
        (1, kafka.codec.has_gzip()),
        (2, kafka.codec.has_snappy()),
        (3, kafka.codec.has_lz4()),
        (4, kafka.codec.has_zstd()),
    ]
    if available
]
LIBRARIES = {"aiokafka": aiokafka_records, "kafka-python": kafka_python_records}
CASES = [("aiokafka", codec) for codec in ALL_CODECS] + [
    ("kafka-python", codec) for codec in KAFKA_PYTHON_CODECS
]

records_strategy = st.lists(
    st.tuples(
        st.none() | st.binary(max_size=30),
        st.none() | st.binary(max_size=300),
        st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=8)), max_size=2),
        st.integers(min_value=0, max_value=2**41),
    ),
    min_size=1,
    max_size=10,
)


def test_kafka_python_runs_at_least_gzip() -> None:
    assert 1 in KAFKA_PYTHON_CODECS


def third_party_batch(
    library: str, codec: int, records: list[Any], producer: tuple[int, int, int]
) -> bytes:
    builder = LIBRARIES[library].DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=producer[0],
        producer_epoch=producer[1],
        base_sequence=producer[2],
        batch_size=1 << 24,
    )
    for offset, (key, value, headers, timestamp) in enumerate(records):
        builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
    return bytes(builder.build())


@pytest.mark.parametrize(("library", "codec"), CASES)
@settings(max_examples=15, deadline=None)
@given(records=records_strategy)
def test_third_party_batches_decode_with_ours(library: str, codec: int, records: list[Any]) -> None:
    batch = third_party_batch(library, codec, records, (1234, 5, 17))
    ((pos, header),) = list(iter_batches(batch))
    assert crc_ok(batch, pos, header)
    # kafka-python writes a batch uncompressed when compressing would not make it smaller.
    assert header.compression in {0, codec}
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (1234, 5, 17)
    assert header.last_offset_delta == len(records) - 1
    assert decode_records(batch, pos, header) == [
        Record(offset, timestamp, key, value, tuple(headers))
        for offset, (key, value, headers, timestamp) in enumerate(records)
    ]


@pytest.mark.parametrize(("library", "codec"), CASES)
def test_compressible_third_party_batch_uses_the_codec(library: str, codec: int) -> None:
    records = [
        (b"key-%d" % i, b"value " * 200, [("h", b"v")], 1_700_000_000_000 + i) for i in range(50)
    ]
    batch = third_party_batch(library, codec, records, (-1, -1, -1))
    ((pos, header),) = list(iter_batches(batch))
    assert header.compression == codec
    assert crc_ok(batch, pos, header)
    decoded = decode_records(batch, pos, header)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in decoded] == [
        (i, key, value, ts) for i, (key, value, _, ts) in enumerate(records)
    ]


@pytest.mark.parametrize(("library", "codec"), CASES)
@settings(max_examples=15, deadline=None)
@given(records=records_strategy, base_offset=st.integers(min_value=0, max_value=2**40))
def test_our_batches_decode_with_third_party(
    library: str, codec: int, records: list[Any], base_offset: int
) -> None:
    batch = build_batch(records, base_offset=base_offset, compression=codec)
    theirs = LIBRARIES[library].DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    assert theirs.compression_type == codec
    decoded = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert decoded == [
        (base_offset + i, timestamp, key, value, list(headers))
        for i, (key, value, headers, timestamp) in enumerate(records)
    ]


@pytest.mark.parametrize(("commit", "marker"), [(True, COMMIT_MARKER), (False, ABORT_MARKER)])
def test_control_batch_reads_as_a_transaction_marker_in_aiokafka(
    commit: bool, marker: ControlRecord
) -> None:
    batch = build_control_batch(
        commit, base_offset=3, producer_id=8, producer_epoch=1, coordinator_epoch=2, timestamp_ms=9
    )
    theirs = aiokafka_records.DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    assert theirs.is_control_batch and theirs.is_transactional
    (record,) = list(theirs)
    assert ControlRecord.parse(record.key) == marker
