"""LocalLog: a partition's segments on disk (Kafka's LocalLog under UnifiedLog).

Owns the ordered list of LogSegments of one directory — the last is the active segment, the only
one appended to — plus the recovery point (offsets below it are known durable) and flushing.
Segments do not overlap; base offsets strictly increase. It knows nothing about producers,
epochs or high watermarks: PartitionLog (log.py) layers those on top.

Crash behaviour: segments leave the log by renaming their files to `.deleted` before unlinking
them, so recovery can tell them apart; new files make the directory "dirty" until the next flush
fsyncs it. A flush prepared before a truncation never moves the recovery point (generation
check), since the offsets it covered may since have been rewritten.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

from riverlog.storage import swap
from riverlog.storage.clock import Clock
from riverlog.storage.config import LogConfig
from riverlog.storage.durability import PendingFlush
from riverlog.storage.segment import DELETED_SUFFIX, EMPTY_SLICE, FileSlice, LogSegment

log = logging.getLogger(__name__)


class LocalLog:
    """The segments of one partition directory."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        clock: Clock,
        segments: list[LogSegment],
        recovery_point: int,
    ) -> None:
        self.directory = directory
        self.config = config
        # Appends may take PartitionLog's single-batch fast path (no keys to check, no
        # LogAppendTime to stamp); kept with the config so the hot path reads one attribute.
        self.plain_appends = not (config.compact or config.log_append_time)
        self.clock = clock
        self.segments = segments
        self._bases = [s.base_offset for s in segments]
        self.recovery_point = recovery_point
        self.last_flush_ms = clock.now_ms()
        self.dir_dirty = False  # files created since the last flush
        self.generation = 0  # bumped by truncation
        self.closed = False

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    def segment_index(self, offset: int) -> int:
        """Index of the segment whose range holds `offset` (the first one if before all)."""
        return max(bisect_right(self._bases, offset) - 1, 0)

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        self.plain_appends = not (config.compact or config.log_append_time)
        for segment in self.segments:
            segment.config = config

    # --- writing -------------------------------------------------------------------------------

    def maybe_roll(
        self, total: int, max_timestamp: int, last_offset: int, now_ms: int, roll_base: int | None
    ) -> bool:
        """Roll if an append of this shape does not belong in the active segment
        (`segment.bytes`, `segment.ms`, full index, offset range); whether it rolled."""
        segment = self.segments[-1]
        rolled = segment.should_roll(total, max_timestamp, last_offset, now_ms) or (
            roll_base is not None and roll_base - segment.base_offset > 2**31 - 1
        )
        if rolled:
            self.roll(now_ms, roll_base)
        return rolled

    def roll(self, now_ms: int, base_offset: int | None = None) -> LogSegment:
        """Start a new active segment at the log end offset (or `base_offset`, if later)."""
        new_base = max(base_offset or 0, self.log_end_offset)
        active = self.segments[-1]
        if active.size == 0:
            if active.base_offset == new_base:
                return active
            self.remove_segments([active], "empty active segment replaced on roll")
        else:
            active.on_become_inactive()
        segment = LogSegment.create(self.directory, new_base, self.config, now_ms)
        self.segments.append(segment)
        self._bases.append(new_base)
        self.dir_dirty = True
        return segment

    def remove_segments(self, segments: Sequence[LogSegment], reason: str) -> None:
        """Drop segments: rename their files to `.deleted`, then unlink them. Reads copy bytes
        eagerly, so no reader holds a deleted segment and file.delete.delay.ms is not needed."""
        if not segments:
            return
        doomed = {id(s) for s in segments}
        self.segments = [s for s in self.segments if id(s) not in doomed]
        self._bases = [s.base_offset for s in self.segments]
        for segment in segments:
            log.info("Deleting segment %d of %s: %s", segment.base_offset, self.name, reason)
            segment.change_suffix(segment.suffix, DELETED_SUFFIX)
            segment.delete()

    def replace_segments(self, new: list[LogSegment], old: list[LogSegment]) -> None:
        """Swap cleaned segments in for the inactive ones they replace (swap.py protocol)."""
        if self.segments[-1] in old:
            raise ValueError("The active segment cannot be replaced")
        self.segments = swap.replace_segments(self.directory, self.segments, new, old)
        self._bases = [s.base_offset for s in self.segments]

    def truncate_to(self, offset: int, now_ms: int) -> None:
        """Remove the batch holding `offset` and everything after (offset >= first base)."""
        self.generation += 1
        index = self.segment_index(offset)
        self.remove_segments(self.segments[index + 1 :], f"truncation to {offset}")
        self.segments[-1].truncate_to(offset, now_ms)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)

    def truncate_fully_and_start_at(self, offset: int, now_ms: int) -> None:
        """Delete every segment and restart, empty, at `offset`."""
        self.generation += 1
        old = list(self.segments)
        segment = LogSegment.create(self.directory, offset, self.config, now_ms)
        self.remove_segments([s for s in old if s.base_offset != offset], f"restart at {offset}")
        for s in old:
            if s.base_offset == offset:
                s.close()  # its files were just recreated empty
        self.segments, self._bases = [segment], [offset]
        self.recovery_point = offset
        self.dir_dirty = True

    # --- reading -------------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, bound: int, min_one: bool) -> FileSlice:
        """Whole batches from the batch holding `offset`, ending before `bound`."""
        for segment in self.segments[self.segment_index(offset) :]:
            found = segment.read(offset, max_bytes, bound, min_one)
            if found is not None:
                return found
        return EMPTY_SLICE

    def offset_for_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `start_offset` with a
        timestamp >= `timestamp` (Kafka decodes the one batch that holds it)."""
        for segment in self.segments:
            if segment.max_timestamp >= timestamp and segment.next_offset > start_offset:
                found = segment.find_offset_by_timestamp(timestamp, start_offset)
                if found is not None:
                    return found
        return None

    def max_timestamp_offset(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record carrying the largest timestamp."""
        best = None
        for segment in self.segments:
            if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
                best = segment
        if best is None or best.max_timestamp < 0:
            return None
        offset = best.record_with_timestamp(best.max_timestamp)
        return (best.offset_of_max_timestamp if offset is None else offset), best.max_timestamp

    def aborted_transactions(self, start_offset: int, upper_offset: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions overlapping the range, walking
        segments from the one holding `start_offset` until a txn index says it is complete."""
        found: list[tuple[int, int]] = []
        for segment in self.segments[self.segment_index(start_offset) :]:
            txns, complete = segment.txn_index.collect_aborted(start_offset, upper_offset)
            found.extend((t.producer_id, t.first_offset) for t in txns)
            if complete:
                break
        return found

    # --- flushing ------------------------------------------------------------------------------

    def begin_flush(self) -> PendingFlush:
        """Prepare an fsync of everything appended so far (run it anywhere, then
        `complete_flush` on the loop)."""
        pending = PendingFlush(self.log_end_offset, self.generation)
        active = self.segments[-1]
        for segment in self.segments[self.segment_index(self.recovery_point) :]:
            segment.write_pending_indexes()
            pending.fds.append(segment.dup_log_fd())
            if segment is not active:  # an inactive segment's indexes are final: persist them
                pending.paths += [segment.offset_index.path, segment.time_index.path]
            if segment.txn_index.take_dirty():
                pending.paths.append(segment.txn_index.path)
        if self.dir_dirty:
            pending.paths.append(self.directory)
            self.dir_dirty = False
        return pending

    def complete_flush(self, pending: PendingFlush) -> None:
        """Advance the recovery point to what `pending` made durable."""
        if pending.generation == self.generation:
            target = min(pending.target_offset, self.log_end_offset)
            self.recovery_point = max(self.recovery_point, target)
        self.last_flush_ms = self.clock.now_ms()

    def flush(self) -> None:
        """fsync everything appended so far and advance the recovery point (blocking)."""
        pending = self.begin_flush()
        pending.run()
        self.complete_flush(pending)

    def maybe_flush(self, now_ms: int) -> bool:
        """Flush when flush.ms has passed or a rolled segment is not yet durable (Kafka
        flushes a segment once it rolls)."""
        if self.flush_due(now_ms):
            self.flush()
            return True
        return False

    def flush_due(self, now_ms: int) -> bool:
        """True when `maybe_flush` would flush (callers may then flush off the event loop)."""
        rolled_unflushed = self.recovery_point < self.segments[-1].base_offset
        if rolled_unflushed or now_ms - self.last_flush_ms >= self.config.flush_ms:
            if self.recovery_point < self.log_end_offset or self.dir_dirty:
                return True
            self.last_flush_ms = now_ms
        return False

    def close_handles(self) -> None:
        """Close every file without flushing."""
        for segment in self.segments:
            segment.close()
        self.closed = True
