"""CleaningRound: one compaction of one log (Kafka's Cleaner.doClean), cut into bounded steps.

A round covers [first dirty offset, first uncleanable offset) of a log chosen by LogCleaner:
1. MAPPING: the dirty segments are read chunk by chunk into an OffsetMap (key -> latest offset),
   skipping aborted transactions and control batches, until the map is full or the dirty
   section ends; `end_offset` = the map's latest offset + 1 (the next round's first dirty offset).
2. CLEANING: every segment below `end_offset` (clean ones included, as in Kafka: they may hold
   tombstones and markers past their horizon) is grouped by size (`segment.bytes`,
   `segment.index.bytes`, int32 offset range), and each group is rewritten chunk by chunk into
   one `<first base>.log.cleaned` segment, keeping offsets (cleaner_records.py decides).
3. SWAPPING: the cleaned segment's files are made durable (fsync, the step that may run on a
   thread), then swapped in for its group by `PartitionLog.replace_segments` (swap.py).

Each step is `begin_step` (on the event loop: checks, reads a chunk of whole batches from a
segment — a copy), `StepWork.run()` (pure work on that copy, or an fsync of duplicated file
descriptors: safe on a worker thread) and `complete_step` (on the loop: checks again, appends the
output to the `.cleaned` segment, or swaps). Between steps the log keeps serving appends and
reads; the round owns no lock. Before using anything it re-checks that the log is still open
and the same object, was not truncated (LocalLog.generation) and still holds the segments the
round works on (retention or DeleteRecords may have removed them); otherwise it aborts.

Crash behaviour: a crash before a swap leaves `.cleaned` files that recovery deletes (the old
segments are intact); a crash during a swap is finished or undone by recovery (swap.py). An
aborted round deletes its `.cleaned` files at once. Nothing here writes the cleaner checkpoint:
LogCleaner does, after the last swap, so a crash mid-round repeats the round.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Sequence
from typing import Protocol

from riverlog.storage.cleaner_records import (
    CleanedTransactionMetadata,
    FilterContext,
    FilterStats,
    LastRecord,
    OffsetMap,
    filter_batches,
    map_batches,
)
from riverlog.storage.durability import PendingFlush
from riverlog.storage.log import PartitionLog
from riverlog.storage.segment import CLEANED_SUFFIX, LogSegment
from riverlog.storage.txn_index import AbortedTxn

log = logging.getLogger(__name__)

_INT32_MAX = 2**31 - 1


class CleaningAborted(Exception):
    """The log changed under the round (truncated, deleted, segments removed); start over."""


class Phase(enum.Enum):
    MAPPING = "mapping"
    CLEANING = "cleaning"
    DONE = "done"


class StepWork(Protocol):
    """One step's off-loop part: `run()` touches only its own inputs (safe on a thread)."""

    bytes_read: int
    error: BaseException | None

    def run(self) -> None: ...


class MapWork:
    """Add a chunk of dirty batches to the offset map."""

    def __init__(
        self, chunk: bytes, start: int, offset_map: OffsetMap, txns: CleanedTransactionMetadata
    ) -> None:
        self.chunk, self.start, self.offset_map, self.txns = chunk, start, offset_map, txns
        self.bytes_read, self.records_read, self.full = len(chunk), 0, False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            _, self.records_read, self.full = map_batches(
                self.chunk, self.start, self.offset_map, self.txns
            )
        except Exception as exc:  # handed to complete_step, which aborts the round
            self.error = exc


class FilterWork:
    """Compact a chunk of batches into the bytes to append to the cleaned segment."""

    def __init__(self, chunk: bytes, ctx: FilterContext, stats: FilterStats) -> None:
        self.chunk, self.ctx, self.stats = chunk, ctx, stats
        self.bytes_read = len(chunk)
        self.output = bytearray()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.output = filter_batches(self.chunk, self.ctx, self.stats)
        except Exception as exc:
            self.error = exc


class FlushWork:
    """fsync a finished cleaned segment before it is swapped in."""

    def __init__(self, pending: PendingFlush) -> None:
        self.pending = pending
        self.bytes_read = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.pending.run()
        except Exception as exc:
            self.error = exc


def read_chunk(segment: LogSegment, position: int, max_bytes: int) -> bytes:
    """Whole batches from `position`, up to `max_bytes` (at least one batch), as a copy."""
    end = position
    for pos, header in segment.iter_headers(position):
        if end > position and pos + header.size - position > max_bytes:
            break
        end = pos + header.size
    return segment.read_batch(position, end - position)


def group_segments_by_size(
    segments: Sequence[LogSegment], max_size: int, max_index_size: int, upper_offset: int
) -> list[list[LogSegment]]:
    """Consecutive segments grouped so each group fits one segment (Kafka's
    groupSegmentsBySize): log bytes <= segment.bytes, each index <= segment.index.bytes, and
    offsets within int32 of the group's base."""
    groups: list[list[LogSegment]] = []
    i = 0
    while i < len(segments):
        group = [segments[i]]
        log_size = segments[i].size
        index_size = len(segments[i].offset_index) * 8
        time_size = len(segments[i].time_index) * 12
        i += 1
        while i < len(segments):
            seg = segments[i]
            last = segments[i + 1].base_offset - 1 if i + 1 < len(segments) else upper_offset - 1
            if (
                log_size + seg.size > max_size
                or index_size + len(seg.offset_index) * 8 > max_index_size
                or time_size + len(seg.time_index) * 12 > max_index_size
                or (seg.size > 0 and last - group[0].base_offset > _INT32_MAX)
            ):
                break
            group.append(seg)
            log_size += seg.size
            index_size += len(seg.offset_index) * 8
            time_size += len(seg.time_index) * 12
            i += 1
        groups.append(group)
    return groups


def collect_aborted(segments: Sequence[LogSegment], start: int, upper: int) -> list[AbortedTxn]:
    """Every aborted transaction overlapping [start, upper), from the segments' txn indexes."""
    found = {}
    for segment in segments:
        for txn in segment.txn_index.entries:
            if txn.last_offset >= start and txn.first_offset < upper:
                found[(txn.producer_id, txn.first_offset)] = txn
    return sorted(found.values(), key=lambda t: t.first_offset)


def last_records_of_active_producers(partition_log: PartitionLog) -> dict[int, LastRecord]:
    """Producer id -> (last data offset, epoch), captured when a group starts (as Kafka)."""
    records = {}
    for pid, entry in partition_log.producer_state.producers.items():
        last = entry.last_data_offset
        records[pid] = LastRecord(last if last >= 0 else None, entry.producer_epoch)
    return records


class CleaningRound:
    """One log's compaction from offset map to last swap; see the module docstring."""

    def __init__(
        self,
        name: str,
        partition_log: PartitionLog,
        first_dirty: int,
        upper: int,
        now_ms: int,
        map_capacity_bytes: int,
    ) -> None:
        self.name = name
        self.log = partition_log
        self.generation = partition_log.local.generation
        self.first_dirty = first_dirty
        self.upper = upper  # first uncleanable offset (a segment base)
        self.now_ms = now_ms
        self.phase = Phase.MAPPING
        self.offset_map = OffsetMap(map_capacity_bytes)
        self.stats = FilterStats()
        self.map_bytes_read = 0
        self.map_records_read = 0
        self.end_offset = first_dirty
        # Mapping state: the dirty segments and where we are in them.
        local = partition_log.local
        first = local.segment_index(first_dirty)
        self._dirty = [s for s in local.segments[first:-1] if s.base_offset < upper]
        self._map_txns = CleanedTransactionMetadata(
            collect_aborted(local.segments, first_dirty, upper)
        )
        self._index = 0
        self._position = self._map_start_position(0)
        # Cleaning state, set by _start_cleaning.
        self.groups: list[list[LogSegment]] = []
        self._group = 0
        self._cleaned: LogSegment | None = None
        self._ctx: FilterContext | None = None

    # --- checks ----------------------------------------------------------------------------------

    def check(self, current: PartitionLog | None) -> None:
        """Raise CleaningAborted unless the log is still as the round left it."""
        lg = self.log
        if current is not lg or lg.local.closed:
            raise CleaningAborted("the log was closed or deleted")
        if lg.local.generation != self.generation:
            raise CleaningAborted("the log was truncated")
        if not lg.config.compact:
            raise CleaningAborted("cleanup.policy no longer has compact")
        live = {id(s) for s in lg.local.segments[:-1]}
        needed = (
            self._dirty[self._index :] if self.phase is Phase.MAPPING else self._group_segments()
        )
        if any(id(s) not in live for s in needed):
            raise CleaningAborted("segments of the round were deleted")

    def _group_segments(self) -> list[LogSegment]:
        return self.groups[self._group] if self._group < len(self.groups) else []

    # --- steps -----------------------------------------------------------------------------------

    def begin_step(self, max_bytes: int) -> StepWork | None:
        """The next step's work, or None when the round is done."""
        while True:
            if self.phase is Phase.MAPPING:
                work = self._begin_map_step(max_bytes)
            elif self.phase is Phase.CLEANING:
                work = self._begin_clean_step(max_bytes)
            else:
                return None
            if work is not None:
                return work

    def complete_step(self, work: StepWork) -> None:
        """Apply a finished step (on the loop, after `check`)."""
        if work.error is not None:
            raise work.error
        if isinstance(work, MapWork):
            self._complete_map_step(work)
        elif isinstance(work, FilterWork):
            self._complete_clean_step(work)
        elif isinstance(work, FlushWork):
            self._swap()

    def abort(self) -> None:
        """Drop the cleaned segment being written, if any."""
        if self._cleaned is not None:
            self._cleaned.delete()
            self._cleaned = None
        self.phase = Phase.DONE

    # --- mapping ---------------------------------------------------------------------------------

    def _map_start_position(self, index: int) -> int:
        if index >= len(self._dirty):
            return 0
        segment = self._dirty[index]
        return segment.offset_index.lookup(self.first_dirty)[1] if index == 0 else 0

    def _begin_map_step(self, max_bytes: int) -> StepWork | None:
        if self._index >= len(self._dirty):
            self._start_cleaning()
            return None
        segment = self._dirty[self._index]
        if self._position >= segment.size:
            # Offsets may have gaps: the map covers the segment up to the next one's base.
            following = self._index + 1
            next_start = (
                self._dirty[following].base_offset if following < len(self._dirty) else self.upper
            )
            self.offset_map.latest_offset = next_start - 1
            self._index = following
            self._position = self._map_start_position(following)
            return None
        chunk = read_chunk(segment, self._position, max_bytes)
        return MapWork(chunk, self.first_dirty, self.offset_map, self._map_txns)

    def _complete_map_step(self, work: MapWork) -> None:
        self.map_bytes_read += work.bytes_read
        self.map_records_read += work.records_read
        if work.full:
            log.info(
                "Offset map for %s is full at offset %d", self.name, self.offset_map.latest_offset
            )
            self._start_cleaning()
            return
        self._position += work.bytes_read

    def _start_cleaning(self) -> None:
        self.end_offset = self.offset_map.latest_offset + 1
        local = self.log.local
        segments = [s for s in local.segments[:-1] if s.base_offset < self.end_offset]
        config = self.log.config
        self.groups = group_segments_by_size(
            segments, config.segment_bytes, config.segment_index_bytes, self.upper
        )
        upper = segments[-1].next_offset if segments else self.end_offset
        txns = CleanedTransactionMetadata(collect_aborted(local.segments, 0, upper))
        self._ctx = FilterContext(
            self.offset_map, txns, {}, self.upper, self.now_ms, config.delete_retention_ms
        )
        self._group, self._index, self._position = 0, 0, 0
        self.phase = Phase.CLEANING if self.groups else Phase.DONE

    # --- cleaning and swapping -------------------------------------------------------------------

    def _begin_clean_step(self, max_bytes: int) -> StepWork | None:
        ctx = self._ctx
        assert ctx is not None
        group = self.groups[self._group]
        if self._cleaned is None:
            self._cleaned = LogSegment.create(
                self.log.directory, group[0].base_offset, self.log.config, self.now_ms,
                suffix=CLEANED_SUFFIX,
            )  # fmt: skip
            ctx.txns.cleaned_index = []
            ctx.last_records = last_records_of_active_producers(self.log)
        if self._index < len(group):
            segment = group[self._index]
            if self._position >= segment.size:
                self._index, self._position = self._index + 1, 0
                return None
            return FilterWork(read_chunk(segment, self._position, max_bytes), ctx, self.stats)
        return FlushWork(self._prepare_swap(group))

    def _complete_clean_step(self, work: FilterWork) -> None:
        cleaned = self._cleaned
        assert cleaned is not None and self._ctx is not None
        if work.output:
            cleaned.append_batches(work.output)
        index = self._ctx.txns.cleaned_index
        if index:
            for txn in index:
                cleaned.txn_index.append(txn)
            index.clear()
        self._position += work.bytes_read

    def _prepare_swap(self, group: list[LogSegment]) -> PendingFlush:
        """Finish the cleaned segment's files and prepare their fsync (run off the loop)."""
        cleaned = self._cleaned
        assert cleaned is not None
        cleaned.on_become_inactive()
        # As Kafka: the cleaned segment keeps the last old segment's modification time.
        stat = os.stat(group[-1].log_path)
        os.utime(cleaned.log_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        pending = PendingFlush(cleaned.next_offset, self.generation)
        pending.fds.append(cleaned.dup_log_fd())
        pending.paths += [cleaned.offset_index.path, cleaned.time_index.path]
        if cleaned.txn_index.path.exists():
            pending.paths.append(cleaned.txn_index.path)
        return pending

    def _swap(self) -> None:
        cleaned = self._cleaned
        assert cleaned is not None
        group = self.groups[self._group]
        log.info(
            "Swapping in cleaned segment %d (%d bytes) for %d segment(s) of %s",
            cleaned.base_offset, cleaned.size, len(group), self.name,
        )  # fmt: skip
        self.log.replace_segments([cleaned], group)
        self._cleaned = None
        self._group, self._index, self._position = self._group + 1, 0, 0
        if self._group >= len(self.groups):
            self.phase = Phase.DONE
