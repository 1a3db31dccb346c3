"""PartitionLog: the append/read API the broker uses, validation, idempotence, transactions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_batches import BASE_TS, LogFactory, batch, marker, offsets

from riverlog.protocol.records import decode_records, iter_batches, parse_header
from riverlog.storage import AppendOrigin, LogConfig, ManualClock, PartitionLog
from riverlog.storage.errors import (
    CorruptRecordError,
    DuplicateSequenceError,
    InvalidProducerEpochError,
    InvalidRecordError,
    InvalidTimestampError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
    StorageError,
)

NOW = BASE_TS


def test_append_assigns_offsets_and_patches_epoch(open_log: LogFactory) -> None:
    log = open_log()
    first = log.append(batch(3), leader_epoch=4, now_ms=NOW)
    second = log.append(batch(2, ts=NOW + 50), leader_epoch=4, now_ms=NOW)
    assert (first.first_offset, first.last_offset, first.records_count) == (0, 2, 3)
    assert (second.first_offset, second.last_offset) == (3, 4)
    assert second.max_timestamp == NOW + 51 and second.offset_of_max_timestamp == 4
    assert second.log_append_time_ms == -1 and second.log_start_offset == 0
    assert log.log_end_offset == 5 and log.latest_epoch == 4
    data = log.read(0, 10_000).read()
    headers = [h for _, h in iter_batches(data)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(0, 4), (3, 4)]
    # Stored exactly as received apart from the two patched fields (outside the CRC).
    assert data[16 : len(batch(3))] == batch(3)[16:]


def test_multi_batch_append_is_one_write(open_log: LogFactory) -> None:
    log = open_log()
    result = log.append(batch(2) + batch(3) + batch(1), leader_epoch=0, now_ms=NOW)
    assert (result.first_offset, result.last_offset, result.records_count) == (0, 5, 6)
    assert offsets(log.read(0, 10_000).read()) == [(0, 1), (2, 4), (5, 5)]


def test_log_append_time(open_log: LogFactory) -> None:
    log = open_log(message_timestamp_type="LogAppendTime")
    result = log.append(batch(2, ts=5), leader_epoch=0, now_ms=NOW + 7)
    assert result.log_append_time_ms == NOW + 7 and result.max_timestamp == NOW + 7
    data = log.read(0, 1000).read()
    header = parse_header(data)
    assert header.timestamp_type == 1 and header.max_timestamp == NOW + 7
    assert [r.timestamp for r in decode_records(data, 0, header)] == [NOW + 7, NOW + 7]


@pytest.mark.parametrize("fast", [True, False])
def test_validation_errors(open_log: LogFactory, fast: bool) -> None:
    log = open_log(max_message_bytes=200, message_timestamp_after_max_ms=1000)
    append = (
        log.append
        if fast
        else (lambda b, **kw: log._append_batches(b, 0, NOW, AppendOrigin.CLIENT))
    )
    with pytest.raises(RecordTooLargeError):
        append(batch(1, value=b"x" * 300), leader_epoch=0, now_ms=NOW)
    corrupt = bytearray(batch(1))
    corrupt[-1] ^= 1
    with pytest.raises(CorruptRecordError, match="CRC"):
        append(bytes(corrupt), leader_epoch=0, now_ms=NOW)
    with pytest.raises(CorruptRecordError):
        append(batch(1)[:-3], leader_epoch=0, now_ms=NOW)
    miscounted = bytearray(batch(2))
    miscounted[60] = 3  # records_count 3, last_offset_delta 1
    import crc32c

    miscounted[17:21] = crc32c.crc32c(bytes(miscounted[21:])).to_bytes(4, "big")
    with pytest.raises(InvalidRecordError, match="count"):
        append(bytes(miscounted), leader_epoch=0, now_ms=NOW)
    with pytest.raises(InvalidTimestampError, match=r"after\.max\.ms"):
        append(batch(1, ts=NOW + 1001), leader_epoch=0, now_ms=NOW)
    with pytest.raises(InvalidRecordError, match="control"):
        append(marker(True, pid=1, epoch=0), leader_epoch=0, now_ms=NOW)
    assert log.log_end_offset == 0 and log.size_in_bytes == 0  # nothing was written


def test_corrupt_record_error_is_both_storage_and_protocol_error() -> None:
    from riverlog.protocol import errors as protocol_errors

    assert issubclass(CorruptRecordError, StorageError)
    assert issubclass(CorruptRecordError, protocol_errors.CorruptRecordError)


def test_compacted_topic_requires_keys(open_log: LogFactory) -> None:
    log = open_log(cleanup_policy=("compact",))
    with pytest.raises(InvalidRecordError, match="without key"):
        log.append(batch(2, key=None), leader_epoch=0, now_ms=NOW)
    log.append(batch(2), leader_epoch=0, now_ms=NOW)
    assert log.log_end_offset == 2


def test_idempotent_duplicates_return_the_original_offsets(open_log: LogFactory) -> None:
    log = open_log()
    log.append(batch(1), leader_epoch=0, now_ms=NOW)
    first = log.append(batch(3, pid=9, epoch=0, seq=0), leader_epoch=0, now_ms=NOW)
    log.append(batch(2, pid=9, epoch=0, seq=3), leader_epoch=0, now_ms=NOW)
    with pytest.raises(DuplicateSequenceError) as caught:
        log.append(batch(3, pid=9, epoch=0, seq=0), leader_epoch=0, now_ms=NOW)
    assert (caught.value.original.first_offset, caught.value.original.last_offset) == (1, 3)
    assert first.first_offset == 1
    assert log.log_end_offset == 6
    with pytest.raises(OutOfOrderSequenceError):
        log.append(batch(1, pid=9, epoch=0, seq=7), leader_epoch=0, now_ms=NOW)
    log.append(batch(1, pid=9, epoch=2, seq=0), leader_epoch=0, now_ms=NOW)  # new epoch
    with pytest.raises(InvalidProducerEpochError):
        log.append(batch(1, pid=9, epoch=1, seq=0), leader_epoch=0, now_ms=NOW)
    assert log.log_end_offset == 7


def test_transactions_lso_and_aborted_transactions(open_log: LogFactory) -> None:
    log = open_log()
    log.append(batch(2), leader_epoch=0, now_ms=NOW)  # 0-1
    log.append(
        batch(2, pid=1, epoch=0, seq=0, transactional=True), leader_epoch=0, now_ms=NOW
    )  # 2-3
    log.append(batch(1, pid=2, epoch=0, seq=0, transactional=True), leader_epoch=0, now_ms=NOW)  # 4
    log.high_watermark = log.log_end_offset
    assert log.last_stable_offset == 2
    abort = log.append(
        marker(False, 1, 0), leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR
    )
    assert abort.first_offset == 5
    assert log.last_stable_offset == 2  # marker not yet below the high watermark
    log.high_watermark = log.log_end_offset
    assert log.last_stable_offset == 4  # producer 2 still open
    log.append(marker(True, 2, 0), leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    log.high_watermark = log.log_end_offset
    assert log.last_stable_offset == 7 == log.log_end_offset
    assert log.aborted_transactions(0, 7) == [(1, 2)]
    assert log.aborted_transactions(6, 7) == []
    assert log.aborted_transactions(0, 2) == []
    entries = log.active_segment.txn_index.entries
    assert [
        (t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset) for t in entries
    ] == [(1, 2, 5, 4)]
    # read_committed reads stop at the LSO
    assert offsets(log.read(0, 10_000, max_offset=4).read()) == [(0, 1), (2, 3)]


def test_read_bounds(open_log: LogFactory) -> None:
    log = open_log()
    for _ in range(5):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(11, 100)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(-1, 100)
    assert log.read(10, 100).size == 0  # at the end: empty, not an error
    assert log.read(3, 10_000, max_offset=3).size == 0
    assert offsets(log.read(3, 1).read()) == [(2, 3)]  # the batch holding 3, from its start
    assert log.read(3, 1, min_one=False).size == 0


def test_reads_span_segments_one_at_a_time(open_log: LogFactory) -> None:
    size = len(batch(2))
    log = open_log(segment_bytes=2 * size)
    for _ in range(5):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    assert [s.base_offset for s in log.segments] == [0, 4, 8]
    assert offsets(log.read(2, 10_000).read()) == [(2, 3)]  # from one segment only
    assert offsets(log.read(4, 10_000).read()) == [(4, 5), (6, 7)]


def test_roll_on_segment_ms_and_full_index(open_log: LogFactory, clock: ManualClock) -> None:
    log = open_log(segment_ms=1000, segment_index_bytes=16, index_interval_bytes=0)
    log.append(batch(1, ts=NOW), leader_epoch=0, now_ms=NOW)
    log.append(batch(1, ts=NOW + 1000), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) == 1
    log.append(batch(1, ts=NOW + 1001), leader_epoch=0, now_ms=NOW)
    assert [s.base_offset for s in log.segments] == [0, 2]
    log.append(batch(1, ts=NOW + 1001), leader_epoch=0, now_ms=NOW)
    # segment.index.bytes=16 holds one 12-byte time index entry: full after the second batch
    log.append(batch(1, ts=NOW + 1001), leader_epoch=0, now_ms=NOW)
    assert [s.base_offset for s in log.segments] == [0, 2, 4]
    snapshots = sorted(int(p.name[:20]) for p in log.directory.glob("*.snapshot"))
    assert snapshots[-2:] == [2, 4]  # producer state is snapshotted on every roll


def test_offset_for_timestamp_and_max_timestamp(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=300)
    log.append(batch(3, timestamps=[NOW + 5, NOW + 1, NOW + 9]), leader_epoch=0, now_ms=NOW)
    log.append(batch(2, timestamps=[NOW + 20, NOW + 30]), leader_epoch=0, now_ms=NOW)
    log.append(batch(2, timestamps=[NOW + 30, NOW + 10]), leader_epoch=0, now_ms=NOW)
    assert len(log.segments) > 1
    assert log.offset_for_timestamp(NOW + 2) == (0, NOW + 5)
    assert log.offset_for_timestamp(NOW + 6) == (2, NOW + 9)
    assert log.offset_for_timestamp(NOW + 25) == (4, NOW + 30)
    assert log.offset_for_timestamp(NOW + 31) is None
    assert log.max_timestamp_offset() == (4, NOW + 30)  # the first record with the max


def test_follower_append_keeps_offsets_and_epochs(
    open_log: LogFactory, tmp_path: Path, clock: ManualClock
) -> None:
    leader = PartitionLog.open(tmp_path / "leader-0", LogConfig(), clock=clock)
    leader.append(batch(2), leader_epoch=1, now_ms=NOW)
    leader.append(batch(2, pid=5, epoch=0, seq=0), leader_epoch=3, now_ms=NOW)
    follower = open_log()
    result = follower.append_as_follower(leader.read(0, 10_000).read())
    assert (result.first_offset, result.last_offset) == (0, 3)
    assert follower.read(0, 10_000).read() == leader.read(0, 10_000).read()
    assert follower.leader_epoch_cache.entries() == [(1, 0), (3, 2)]
    assert follower.producer_state.last_entry(5) is not None
    with pytest.raises(StorageError, match="Unexpected offset"):
        follower.append_as_follower(leader.read(2, 10_000).read())
    assert follower.end_offset_for_epoch(1) == (1, 2)
    assert follower.end_offset_for_epoch(3) == (3, 4)
    leader.close()


def test_truncate_to_restores_offsets_epochs_and_producers(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=300)
    for epoch in range(4):
        log.append(batch(2, pid=1, epoch=0, seq=2 * epoch), leader_epoch=epoch, now_ms=NOW)
    log.high_watermark = 8
    assert log.truncate_to(5)  # in the batch 4-5: the whole batch goes
    assert log.log_end_offset == 4 and log.high_watermark == 4
    assert log.leader_epoch_cache.entries() == [(0, 0), (1, 2)]
    entry = log.producer_state.last_entry(1)
    assert entry is not None and entry.last_seq == 3
    log.append(batch(2, pid=1, epoch=0, seq=4), leader_epoch=5, now_ms=NOW)  # in sequence again
    assert not log.truncate_to(100)
    log.truncate_to(0)
    assert log.log_end_offset == 0 and log.producer_state.last_entry(1) is None


def test_delete_records_before(open_log: LogFactory) -> None:
    log = open_log(segment_bytes=300)
    for _ in range(6):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(3)  # above the high watermark (0)
    log.high_watermark = 12
    assert [s.base_offset for s in log.segments] == [0, 6]
    assert log.delete_records_before(5) == 5
    assert [s.base_offset for s in log.segments] == [0, 6]  # segment 0 still holds 5
    assert log.delete_records_before(7) == 7
    assert [s.base_offset for s in log.segments] == [6]
    assert log.log_start_offset == 7
    with pytest.raises(OffsetOutOfRangeError):
        log.read(6, 100)
    assert offsets(log.read(7, 100).read()) == [(6, 7)]  # the batch holding 7
    assert log.delete_records_before(2) == 7  # never moves backwards


def test_empty_append_is_a_noop(open_log: LogFactory) -> None:
    log = open_log()
    assert log.append(b"", leader_epoch=0).first_offset == -1
    assert log.append_as_follower(b"").first_offset == -1


batch_specs = st.lists(
    st.tuples(
        st.integers(1, 4),  # records
        st.sampled_from([-1, 7]),  # producer id
        st.integers(0, 30),  # timestamp delta
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=30)
@given(batch_specs)
def test_fast_path_matches_general_path(specs: list[tuple[int, int, int]]) -> None:
    """The single-batch hot path writes exactly what the general path writes."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(NOW)
        config = LogConfig(segment_bytes=400, index_interval_bytes=100)
        fast = PartitionLog.open(Path(tmp) / "a-0", config, clock=clock)
        general = PartitionLog.open(Path(tmp) / "b-0", config, clock=clock)
        seq = 0
        for count, pid, delta in specs:
            data = batch(
                count,
                ts=NOW + delta,
                pid=pid,
                epoch=0 if pid >= 0 else -1,
                seq=seq if pid >= 0 else -1,
            )
            seq += count if pid >= 0 else 0
            a = fast.append(data, leader_epoch=2, now_ms=NOW)
            b = general._append_batches(data, 2, NOW, AppendOrigin.CLIENT)
            assert a == b
        assert [s.base_offset for s in fast.segments] == [s.base_offset for s in general.segments]
        for sa, sb in zip(fast.segments, general.segments, strict=True):
            assert sa.log_path.read_bytes() == sb.log_path.read_bytes()
            assert sa.offset_index.entries() == sb.offset_index.entries()
            assert sa.time_index.entries() == sb.time_index.entries()
        entry_a, entry_b = fast.producer_state.last_entry(7), general.producer_state.last_entry(7)
        assert (entry_a is None) == (entry_b is None)
        if entry_a is not None and entry_b is not None:
            assert list(entry_a.batches) == list(entry_b.batches)
        assert fast.producer_state.map_end_offset == general.producer_state.map_end_offset
        fast.close()
        general.close()
