"""PartitionLog: one partition's log — segments plus offsets, producers, epochs, transactions.

Directory `<topic>-<partition>/`: segments `<base:020d>.log|.index|.timeindex|.txnindex`,
`leader-epoch-checkpoint`, producer snapshots `<offset:020d>.snapshot`. The data-dir checkpoints
(recovery point, log start offset, high watermark) belong to LogManager, which passes them in.
Segment handling and flushing live in LocalLog (local_log.py), as in Kafka's UnifiedLog/LocalLog.

Offsets: log start offset <= high watermark <= log end offset (LEO); the last stable offset
(LSO) is min(first unstable offset, high watermark).

Appends are validated as a whole before anything is written (validator.py, producer_append.py),
then written in one call; in-memory state (indexes, producer state, epochs, txn index) changes
only after the write succeeded. A retry of one of a producer's last 5 batches raises
DuplicateSequenceError carrying where the original went.

Durability: Kafka's policy by default (page cache; `flush.messages` from append, `flush.ms` and
rolled segments from `LogManager.flush_pass`); strict mode is the broker awaiting
`GroupCommitter.sync(log)` (durability.py), built on `begin_flush`/`complete_flush`.

Crash behaviour: everything after the recovery point is re-validated on open (recovery.py), a
torn tail is cut, producer state and epochs are rebuilt to match. Producer state is snapshotted
on roll and close so that reopening replays little.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from crc32c import crc32c

from riverlog.protocol.records import (
    BATCH_HEADER_SIZE,
    patch_base_offset,
    patch_leader_epoch,
    set_log_append_time,
    set_max_timestamp,
)
from riverlog.storage import recovery, retention
from riverlog.storage.append_result import AppendResult
from riverlog.storage.clock import SYSTEM_CLOCK, Clock
from riverlog.storage.config import LogConfig
from riverlog.storage.durability import PendingFlush
from riverlog.storage.errors import (
    CorruptRecordError,
    DuplicateSequenceError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    StorageError,
)
from riverlog.storage.local_log import LocalLog
from riverlog.storage.producer_append import (
    AppendOrigin,
    CompletedTxn,
    ProducerAppendInfo,
    ProducerStateEntry,
    increment_sequence,
)
from riverlog.storage.producer_state import read_end_txn_marker
from riverlog.storage.segment import EMPTY_SLICE, FileSlice, LogSegment
from riverlog.storage.txn_index import AbortedTxn
from riverlog.storage.validator import (
    HEADER_STRUCT,
    Buffer,
    Header,
    check_client_batch,
    check_records,
    validate_batches,
)

__all__ = ["AppendResult", "FileSlice", "PartitionLog"]

_OFFSET_LENGTH_EPOCH = struct.Struct(">qii")  # base offset, batch length, partition leader epoch
_INT64 = struct.Struct(">q")
_new_tuple = tuple.__new__  # builds AppendResult without its Python-level __new__
Producers = tuple[dict[int, ProducerAppendInfo], list[CompletedTxn]]


class PartitionLog:
    """A partition's log. Open with `PartitionLog.open`; one event loop owns it."""

    def __init__(self, config: LogConfig, clock: Clock, loaded: recovery.LoadedLog) -> None:
        self.local = LocalLog(
            loaded.directory, config, clock, loaded.segments, loaded.recovery_point
        )
        self.clock = clock
        self._log_start_offset = loaded.log_start_offset
        self._high_watermark = loaded.log_start_offset
        self.leader_epoch_cache = loaded.epoch_cache
        self.producer_state = loaded.producer_state
        # Called with the new log end offset after a truncation (LogManager: cleaner checkpoint).
        self.on_truncated: Callable[[int], None] | None = None

    @classmethod
    def open(
        cls,
        directory: Path | str,
        config: LogConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        recovery_point: int | None = None,
        log_start_offset: int | None = None,
        high_watermark: int | None = None,
    ) -> PartitionLog:
        """Open (creating if needed) the log in `directory`, recovering after `recovery_point`.

        Without a recovery point every segment is re-validated (a standalone open)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        loaded = recovery.load_log(path, config, clock.now_ms(), recovery_point, log_start_offset)
        partition_log = cls(config, clock, loaded)
        partition_log.high_watermark = high_watermark if high_watermark is not None else 0
        return partition_log

    # --- offsets and summary -------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.local.directory

    @property
    def name(self) -> str:
        return self.local.directory.name

    @property
    def config(self) -> LogConfig:
        return self.local.config

    @property
    def recovery_point(self) -> int:
        return self.local.recovery_point

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.local.segments[-1].next_offset

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @high_watermark.setter
    def high_watermark(self, offset: int) -> None:
        """Set by the broker (clamped to [log start, LEO] as Kafka does)."""
        self._high_watermark = min(max(offset, self._log_start_offset), self.log_end_offset)
        self.producer_state.on_high_watermark_updated(self._high_watermark)

    @property
    def last_stable_offset(self) -> int:
        unstable = self.producer_state.first_unstable_offset
        return self._high_watermark if unstable is None else min(unstable, self._high_watermark)

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.local.segments)

    @property
    def latest_epoch(self) -> int:
        """Latest leader epoch in the log, -1 when none."""
        return self.leader_epoch_cache.latest_epoch

    @property
    def active_segment(self) -> LogSegment:
        return self.local.segments[-1]

    @property
    def segments(self) -> list[LogSegment]:
        """All segments, oldest first (a copy)."""
        return list(self.local.segments)

    def inactive_segments(self) -> list[LogSegment]:
        """Every segment except the active one (what the cleaner may compact)."""
        return self.local.segments[:-1]

    def update_config(self, config: LogConfig) -> None:
        """Apply changed topic configs (AlterConfigs); effective from the next append."""
        self.local.update_config(config)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) per OffsetForLeaderEpoch; (-1, -1) when unknown."""
        return self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset)

    def assign_epoch(self, epoch: int, start_offset: int | None = None) -> None:
        """Record that leader `epoch` starts at `start_offset` (default: the log end offset);
        the broker calls this on becoming leader (Kafka's maybeAssignEpochStartOffset)."""
        offset = self.log_end_offset if start_offset is None else start_offset
        self.leader_epoch_cache.assign(epoch, offset)

    def epoch_for_offset(self, offset: int) -> int:
        """The leader epoch `offset` was written in (-1 if unknown)."""
        return self.leader_epoch_cache.epoch_for_offset(offset)

    # --- append --------------------------------------------------------------------------------

    def append(
        self,
        records: Buffer,
        *,
        leader_epoch: int,
        now_ms: int | None = None,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> AppendResult:
        """Leader append: validate, assign offsets, stamp `leader_epoch`, write."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        if origin is AppendOrigin.CLIENT and self.local.plain_appends:
            size = len(records)
            if size >= BATCH_HEADER_SIZE:
                header = HEADER_STRUCT.unpack_from(records, 0)
                # The produce hot path: one batch, not transactional, not control, and either no
                # producer id or the producer's plainly-next sequence.
                if header[1] + 12 == size and not header[5] & 0x30:
                    pid, entry = header[9], None
                    if pid >= 0:
                        entry = self.producer_state.in_sequence_entry(pid, header[10], header[11])
                    if pid < 0 or entry is not None:
                        return self._append_single_batch(records, header, entry, leader_epoch, now)
        return self._append_batches(records, leader_epoch, now, origin)

    def _append_batches(
        self, records: Buffer, leader_epoch: int, now: int, origin: AppendOrigin
    ) -> AppendResult:
        """The general leader append (any number of batches, transactions, LogAppendTime)."""
        config = self.local.config
        batches = validate_batches(records, config, origin, now)
        if not batches:
            return self._empty_result()
        # 1. Assign offsets; nothing is written before every check has passed.
        first_offset = next_offset = self.log_end_offset
        firsts, with_producers = [], False
        for _, header in batches:
            firsts.append(next_offset)
            next_offset += header.last_offset_delta + 1
            with_producers = with_producers or header.producer_id >= 0
        # 2. Idempotence and transactions (may raise, e.g. DuplicateSequenceError).
        producers = (
            self._analyze_producers(records, batches, firsts, origin, now)
            if with_producers
            else None
        )
        # 3. Patch a copy: base offset, leader epoch, LogAppendTime.
        buf = bytearray(records)
        stamp = now if config.log_append_time else -1
        described, max_ts, offset_of_max, count = [], -1, -1, 0
        for (pos, header), first in zip(batches, firsts, strict=True):
            patch_base_offset(buf, pos, first)
            patch_leader_epoch(buf, pos, leader_epoch)
            batch_max = header.max_timestamp
            if stamp >= 0:
                set_log_append_time(buf, pos, now)
                batch_max = now
            elif batch_max != _INT64.unpack_from(buf, pos + 35)[0]:  # validation's fix
                set_max_timestamp(buf, pos, batch_max)
            last = first + header.last_offset_delta
            described.append((pos, first, last, batch_max, header.batch_length + 12))
            if batch_max > max_ts:
                max_ts, offset_of_max = batch_max, last
            count += header.records_count
        # 4. Write, then update in-memory state.
        self._write([buf], len(buf), described, max_ts, now)
        self._after_append(first_offset, leader_epoch, producers)
        return AppendResult(
            first_offset, next_offset - 1, max_ts, offset_of_max, stamp,
            self._log_start_offset, count, len(buf),
        )  # fmt: skip

    def _append_single_batch(
        self,
        records: Buffer,
        header: tuple[int, ...],
        producer: ProducerStateEntry | None,
        leader_epoch: int,
        now: int,
    ) -> AppendResult:
        """`append` of one plain or in-sequence idempotent batch: the same checks, fewer calls.

        Must stay equivalent to `_append_batches` (tests compare them byte for byte)."""
        config = self.local.config
        size = len(records)
        (_, length, _, magic, crc, _, delta, _, max_ts, _, epoch, seq, count) = header
        if magic != 2 or length < 49:
            raise CorruptRecordError(f"Invalid batch (magic {magic}, length {length})")
        if size > config.max_message_bytes:
            raise RecordTooLargeError(
                f"The record batch size {size} exceeds max.message.bytes {config.max_message_bytes}"
            )
        if crc32c(memoryview(records)[21:]) != crc:  # attributes..end (the view dies here)
            raise CorruptRecordError("Record batch at position 0 fails its CRC check")
        if count <= 0 or count != delta + 1:
            check_client_batch(Header._make(header))  # raises with the full message
        data = records if isinstance(records, bytes) else bytes(records)
        if check_records(data, 0, Header._make(header), config, now) is not None:
            return self._append_batches(records, leader_epoch, now, AppendOrigin.CLIENT)  # fix max
        segment = self.local.segments[-1]
        first = segment.next_offset
        last = first + delta
        head = _OFFSET_LENGTH_EPOCH.pack(first, length, leader_epoch)  # not under the CRC
        if not segment.append_produced(head, records, size, first, last, max_ts, now):
            segment = self.roll(now)
            segment.append_produced(head, records, size, first, last, max_ts, now)
        if producer is not None:
            producer.add_batch(epoch, increment_sequence(seq, delta), last, delta, max_ts)
            self.producer_state.map_end_offset = last + 1
        if leader_epoch >= 0 and leader_epoch != self.leader_epoch_cache.latest_epoch:
            self.leader_epoch_cache.assign(leader_epoch, first)
        if last + 1 - self.local.recovery_point >= config.flush_messages:
            self.flush()
        return _new_tuple(
            AppendResult, (first, last, max_ts, last, -1, self._log_start_offset, count, size)
        )

    def append_as_follower(self, records: Buffer) -> AppendResult:
        """Replica append: offsets and epochs kept as the leader wrote them."""
        batches = validate_batches(records, self.local.config, AppendOrigin.REPLICATION, 0)
        if not batches:
            return self._empty_result()
        first = batches[0][1].base_offset
        if first < self.log_end_offset:
            raise StorageError(
                f"Unexpected offset in append to {self.name}: first offset {first} is "
                f"below the log end offset {self.log_end_offset}"
            )
        described, max_ts, offset_of_max, expected = [], -1, -1, first
        for pos, header in batches:
            if header.base_offset < expected:
                raise StorageError(f"Out of order offsets in append to {self.name}")
            expected = header.last_offset + 1
            described.append(
                (pos, header.base_offset, expected - 1, header.max_timestamp, header.size)
            )
            if header.max_timestamp > max_ts:
                max_ts, offset_of_max = header.max_timestamp, expected - 1
        now = self.clock.now_ms()
        firsts = [h.base_offset for _, h in batches]
        producers = self._analyze_producers(records, batches, firsts, AppendOrigin.REPLICATION, now)
        self._write([records], len(records), described, max_ts, now, roll_base=first)
        for _, header in batches:
            if header.partition_leader_epoch >= 0:
                self.leader_epoch_cache.assign(header.partition_leader_epoch, header.base_offset)
        self._after_append(first, -1, producers)
        count = sum(h.records_count for _, h in batches)
        return AppendResult(
            first, expected - 1, max_ts, offset_of_max, -1, self._log_start_offset, count,
            len(records),
        )  # fmt: skip

    def _empty_result(self) -> AppendResult:
        return AppendResult(-1, -1, -1, -1, -1, self._log_start_offset, 0, 0)

    def _write(
        self,
        chunks: list[Buffer],
        total: int,
        described: list[tuple[int, int, int, int, int]],
        max_timestamp: int,
        now_ms: int,
        roll_base: int | None = None,
    ) -> None:
        if self.local.maybe_roll(total, max_timestamp, described[-1][2], now_ms, roll_base):
            self._after_roll()
        self.local.segments[-1].append(chunks, total, described)

    def _after_append(self, first: int, leader_epoch: int, producers: Producers | None) -> None:
        if leader_epoch >= 0 and leader_epoch != self.leader_epoch_cache.latest_epoch:
            self.leader_epoch_cache.assign(leader_epoch, first)
        if producers is not None:
            self._commit_producers(*producers)
        if self.log_end_offset - self.local.recovery_point >= self.local.config.flush_messages:
            self.flush()

    def _analyze_producers(
        self,
        records: Buffer,
        batches: Sequence[tuple[int, Header]],
        firsts: Sequence[int],
        origin: AppendOrigin,
        now: int,
    ) -> Producers:
        """Producer epoch/sequence/transaction checks for every batch with a producer id."""
        infos: dict[int, ProducerAppendInfo] = {}
        completed: list[CompletedTxn] = []
        log_append = self.local.config.log_append_time and origin is not AppendOrigin.REPLICATION
        for (pos, header), first in zip(batches, firsts, strict=True):
            pid = header.producer_id
            if pid < 0:
                continue
            if origin is AppendOrigin.CLIENT:
                self._raise_if_duplicate(header)
            info = infos.get(pid) or self.producer_state.prepare_update(pid, origin)
            infos[pid] = info
            ts = now if log_append else header.max_timestamp
            if not header.is_control:
                last = first + header.last_offset_delta
                info.append_data_batch(
                    header.producer_epoch, header.base_sequence, header.last_sequence, ts,
                    first, last, header.is_transactional,
                )  # fmt: skip
                continue
            marker = read_end_txn_marker(records, pos, header)
            if marker is not None:
                is_commit, coordinator_epoch = marker
                txn = info.append_end_txn_marker(
                    is_commit, coordinator_epoch, header.producer_epoch, first, ts
                )
                if txn is not None:
                    completed.append(txn)
        return infos, completed

    def _raise_if_duplicate(self, header: Header) -> None:
        entry = self.producer_state.last_entry(header.producer_id)
        if entry is None:
            return
        dup = entry.find_duplicate(
            header.producer_epoch, header.base_sequence, header.last_sequence
        )
        if dup is None:
            return
        append_time = dup.timestamp if self.local.config.log_append_time else -1
        result = AppendResult(
            dup.first_offset, dup.last_offset, dup.timestamp, dup.last_offset, append_time,
            self._log_start_offset, dup.offset_delta + 1, 0,
        )  # fmt: skip
        raise DuplicateSequenceError(
            f"Duplicate batch from producer {header.producer_id} (sequence "
            f"{header.base_sequence}..{header.last_sequence}), written at {dup.first_offset}",
            result,
        )

    def _commit_producers(
        self, infos: dict[int, ProducerAppendInfo], completed: list[CompletedTxn]
    ) -> None:
        """After a successful write: producer state, then completed transactions (Kafka's order)."""
        state = self.producer_state
        for info in infos.values():
            state.update(info)
        for txn in completed:
            if txn.is_aborted:
                lso = state.last_stable_offset_for(txn)
                self.active_segment.txn_index.append(
                    AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso)
                )
            state.complete_txn(txn)
        state.map_end_offset = self.log_end_offset

    def roll(self, now_ms: int | None = None) -> LogSegment:
        """Start a new active segment at the log end offset; snapshots producer state."""
        segment = self.local.roll(self.clock.now_ms() if now_ms is None else now_ms)
        self._after_roll()
        return segment

    def _after_roll(self) -> None:
        self.producer_state.map_end_offset = self.log_end_offset
        self.producer_state.take_snapshot()

    # --- read ----------------------------------------------------------------------------------

    def read(
        self, offset: int, max_bytes: int, *, max_offset: int | None = None, min_one: bool = True
    ) -> FileSlice:
        """Whole batches from the batch holding `offset`, up to `max_bytes` (at least one batch
        when `min_one`), only batches ending before `max_offset` (HW or LSO)."""
        end = self.log_end_offset
        if offset < self._log_start_offset or offset > end:
            raise OffsetOutOfRangeError(
                f"Offset {offset} is out of range for {self.name}: "
                f"[{self._log_start_offset}, {end}]"
            )
        bound = end if max_offset is None else min(max_offset, end)
        if offset >= bound:
            return EMPTY_SLICE
        return self.local.read(offset, max_bytes, bound, min_one)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with timestamp >= `timestamp`, or None."""
        return self.local.offset_for_timestamp(timestamp, self._log_start_offset)

    def max_timestamp_offset(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with the largest timestamp (KIP-734)."""
        return self.local.max_timestamp_offset()

    def aborted_transactions(self, start_offset: int, upper_offset: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions overlapping
        [start_offset, upper_offset), for read_committed fetches."""
        return self.local.aborted_transactions(start_offset, upper_offset)

    # --- truncation, retention -----------------------------------------------------------------

    def truncate_to(self, offset: int) -> bool:
        """Remove the batch holding `offset` and every later one (replication); whether
        anything was removed."""
        if offset < 0:
            raise ValueError(f"Cannot truncate {self.name} to a negative offset {offset}")
        if offset >= self.log_end_offset:
            return False
        now = self.clock.now_ms()
        if offset < self.local.segments[0].base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        self.local.truncate_to(offset, now)
        end = self.log_end_offset
        self.leader_epoch_cache.truncate_from_end(end)
        self._log_start_offset = min(self._log_start_offset, end)
        self._high_watermark = min(self._high_watermark, end)
        recovery.rebuild_producer_state(
            self.local.segments, self.producer_state, self._log_start_offset, end, now
        )
        if self.on_truncated is not None:
            self.on_truncated(end)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart the log, empty, at `offset`."""
        self.local.truncate_fully_and_start_at(offset, self.clock.now_ms())
        self.leader_epoch_cache.clear()
        self.producer_state.truncate_fully_and_start_at(offset)
        self._log_start_offset = self._high_watermark = offset
        if self.on_truncated is not None:
            self.on_truncated(offset)

    def delete_records_before(self, offset: int) -> int:
        """Move the log start offset up to `offset` (DeleteRecords); returns the new one.

        Raises OffsetOutOfRangeError beyond the high watermark, as Kafka does."""
        if offset > self._high_watermark:
            raise OffsetOutOfRangeError(
                f"Cannot increment the log start offset of {self.name} to {offset}: "
                f"it is larger than the high watermark {self._high_watermark}"
            )
        self.maybe_increment_log_start_offset(offset)
        doomed = retention.below_log_start(self.local.segments, self._log_start_offset)
        self._delete_segments(doomed, "log start offset")
        return self._log_start_offset

    def maybe_increment_log_start_offset(self, offset: int) -> None:
        """Raise the log start offset (never lowers it); epochs and producers follow."""
        if offset <= self._log_start_offset:
            return
        self._log_start_offset = offset
        self._high_watermark = max(self._high_watermark, offset)
        self.leader_epoch_cache.truncate_from_start(offset)
        self.producer_state.on_log_start_offset_incremented(offset)

    def delete_old_segments(self, now_ms: int) -> int:
        """Retention: delete whole inactive segments past retention.ms / retention.bytes
        (cleanup.policy=delete only) or below the log start offset; returns how many."""
        doomed = retention.deletable_segments(
            self.local.segments, self.config, now_ms, self._high_watermark, self._log_start_offset
        )
        self._delete_segments(doomed, "retention")
        return len(doomed)

    def _delete_segments(self, segments: list[LogSegment], reason: str) -> None:
        if not segments:
            return
        self.local.remove_segments(segments, reason)
        first_base = self.local.segments[0].base_offset
        self.maybe_increment_log_start_offset(first_base)
        self.producer_state.delete_snapshots_before(first_base)

    def remove_expired_producers(self, now_ms: int) -> None:
        """Forget producers idle longer than producer.id.expiration.ms."""
        self.producer_state.remove_expired_producers(now_ms)

    def replace_segments(
        self, new_segments: list[LogSegment], old_segments: list[LogSegment]
    ) -> None:
        """Atomically swap cleaned segments (suffix `.cleaned`) in for the consecutive inactive
        segments they replace (compaction); crash-safe, see `swap.replace_segments`."""
        self.local.replace_segments(new_segments, old_segments)

    # --- flush, close --------------------------------------------------------------------------

    def begin_flush(self) -> PendingFlush:
        """Prepare an fsync of everything appended so far (see durability.py)."""
        return self.local.begin_flush()

    def complete_flush(self, pending: PendingFlush) -> None:
        """Advance the recovery point to what `pending` made durable."""
        self.local.complete_flush(pending)

    def flush(self) -> None:
        """fsync everything appended so far and advance the recovery point (blocking)."""
        self.local.flush()

    def maybe_flush(self, now_ms: int) -> bool:
        """Flush if flush.ms has passed or a rolled segment is not durable yet."""
        return self.local.maybe_flush(now_ms)

    def flush_due(self, now_ms: int) -> bool:
        """Whether `maybe_flush` would flush now (to flush via begin/complete_flush instead)."""
        return self.local.flush_due(now_ms)

    def close(self) -> None:
        """Flush, snapshot producer state at the log end and close every file."""
        if self.local.closed:
            return
        self.flush()
        self.producer_state.map_end_offset = self.log_end_offset
        self.producer_state.take_snapshot()
        self.local.close_handles()

    def close_handles(self) -> None:
        """Close every file without flushing (the log is being deleted)."""
        self.local.close_handles()
