"""LogCleaner: log compaction for `cleanup.policy=compact` (Kafka's LogCleaner/LogCleanerManager).

What it does. Of the logs whose cleanup.policy has `compact`, it picks the dirtiest one that is
due and compacts it: for every key only the latest record stays, at its original offset;
tombstones (null value) stay for `delete.retention.ms` after the cleaning that first saw them,
then go; records of aborted transactions go; transaction markers go once no batch of their
transaction remains and their own delete horizon passed. The rules are in cleaner_records.py,
the round (offset map, grouping, rewrite, swap) in cleaner_round.py.

Which log (Kafka's grabFilthiestCompactedLog, cleanableOffsets, maxCompactionDelay):
- first dirty offset = the log's cleaner checkpoint, or the log start offset when there is none
  or it is outside [log start offset, log end offset];
- first uncleanable offset = min(last stable offset (so also the high watermark), the active
  segment's base, the base of the first dirty segment whose largest timestamp is newer than
  now - min.compaction.lag.ms), rounded down to a segment base;
- clean bytes = segments below the first dirty offset, cleanable bytes = segments from it up to
  the first uncleanable one; dirty ratio = cleanable / (clean + cleanable);
- a log is due when its ratio > min.cleanable.dirty.ratio (strictly, as Kafka), or when it has
  cleanable bytes and a dirty segment whose first batch is older than now -
  max.compaction.lag.ms; of the due logs the one with the highest ratio is cleaned.
Retention of `compact,delete` logs (retention.ms/bytes) and of every log's segments below its
log start offset is `PartitionLog.delete_old_segments`, run by `LogManager.retention_pass`.

File `<data dir>/cleaner-offset-checkpoint` (Kafka's offset checkpoint text format, see
checkpoint.py): per partition, the first offset not yet cleaned (the last round's end offset).
It is rewritten (temp + fsync + rename) after each finished round, when a log is deleted, when
a truncation goes below it, and when it was invalid. Crash behaviour: a crash mid-round loses
only that round's progress (the checkpoint still holds the previous end; `.cleaned` files are
deleted and interrupted swaps finished by recovery, swap.py); an old checkpoint only makes the
next round redo work, and treating clean data as dirty is always safe.

How the broker drives it. Storage is not thread-safe: appends and reads happen on the event
loop, so the cleaner runs in small steps that each do a bounded amount of work:
- simplest: `LogManager.clean_pass(now_ms, max_bytes)` on the loop; it runs steps until about
  `max_bytes` of segment data were read (one step is at least one batch) and returns a
  CleanPass. Call it again soon (e.g. `loop.call_soon`, or after a few ms) while `busy`, and
  every `log.cleaner.backoff.ms` (Kafka: 15 s) otherwise. A step holds the loop for about
  max_bytes / (cleaner throughput): the default 256 KiB is ~10 ms on the bench machine (about
  100k records/s, bench/RESULTS.md). The swap step also fsyncs the cleaned segment on the loop.
- or `await LogManager.clean_pass_async(now_ms, max_bytes, executor)`: each
  step's `begin_step` and `complete_step` run on the loop, its `StepWork.run()` in the executor.
  What runs on the thread is exactly: decoding, filtering and re-encoding a private copy of a
  chunk of batches read on the loop (`os.pread`), updating the round's own offset map and
  transaction state (nothing else touches them while a step is outstanding), and the fsync of
  duplicated descriptors of the round's own `.cleaned` files. No segment, index or log object is
  touched off the loop; `complete_step` re-checks the log (truncation, deletion, removed
  segments) before appending or swapping and abandons the round if it changed. The thread
  holds the GIL while it filters, but the interpreter switches threads every 5 ms, so the loop
  keeps serving during long steps and fsyncs never block it.
Only one step may be outstanding at a time (a second `begin_step` raises RuntimeError).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from riverlog.storage.checkpoint import CLEANER_OFFSET_CHECKPOINT, OffsetCheckpointFile
from riverlog.storage.cleaner_round import CleaningAborted, CleaningRound, Phase, StepWork
from riverlog.storage.config import DEFAULT_DEDUPE_BUFFER_SIZE
from riverlog.storage.log import PartitionLog
from riverlog.storage.segment import LogSegment

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
Logs = Mapping[TopicPartition, PartitionLog]

DEFAULT_LOAD_FACTOR = 0.9  # log.cleaner.io.buffer.load.factor


class CleanPass(NamedTuple):
    """What a pass did: segment bytes read, rounds finished, whether a round is in progress."""

    bytes_read: int
    rounds_completed: int
    busy: bool


@dataclass(frozen=True, slots=True)
class LogToClean:
    """A compacted log's dirty section (Kafka's LogToClean)."""

    topic_partition: TopicPartition
    log: PartitionLog
    first_dirty_offset: int
    first_uncleanable_offset: int  # a segment base
    clean_bytes: int
    cleanable_bytes: int
    need_compaction_now: bool

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def cleanable_ratio(self) -> float:
        return self.cleanable_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def due(self) -> bool:
        """Whether Kafka would clean it now."""
        if self.need_compaction_now and self.cleanable_bytes > 0:
            return True
        return self.cleanable_ratio > self.log.config.min_cleanable_dirty_ratio


def cleanable_offsets(
    partition_log: PartitionLog, checkpoint: int | None, now_ms: int
) -> tuple[int, int, bool]:
    """(first dirty offset, first uncleanable offset, whether the checkpoint was invalid)."""
    start, end = partition_log.log_start_offset, partition_log.log_end_offset
    invalid = checkpoint is not None and not start <= checkpoint <= end
    first_dirty = start if checkpoint is None or invalid else checkpoint
    candidates = [partition_log.last_stable_offset, partition_log.active_segment.base_offset]
    lag = max(partition_log.config.min_compaction_lag_ms, 0)
    if lag > 0:
        for segment in _dirty_inactive_segments(partition_log, first_dirty):
            if segment.largest_timestamp > now_ms - lag:
                candidates.append(segment.base_offset)
                break
    return first_dirty, max(first_dirty, min(candidates)), invalid


def _dirty_inactive_segments(partition_log: PartitionLog, first_dirty: int) -> list[LogSegment]:
    local = partition_log.local
    return local.segments[local.segment_index(first_dirty) : -1]


def max_compaction_delay(partition_log: PartitionLog, first_dirty: int, now_ms: int) -> int:
    """How long past max.compaction.lag.ms the oldest dirty segment is (0 when it is not)."""
    stamps = [
        s.first_batch_timestamp
        for s in _dirty_inactive_segments(partition_log, first_dirty)
        if s.first_batch_timestamp is not None and s.first_batch_timestamp > 0
    ]
    if not stamps:
        return 0
    clean_until = now_ms - max(partition_log.config.max_compaction_lag_ms, 0)
    earliest = min(stamps)
    return clean_until - earliest if earliest < clean_until else 0


def log_to_clean(
    tp: TopicPartition, partition_log: PartitionLog, checkpoint: int | None, now_ms: int
) -> tuple[LogToClean, bool]:
    """The log's dirty section, and whether its checkpoint must be reset to the first dirty."""
    first_dirty, uncleanable, invalid = cleanable_offsets(partition_log, checkpoint, now_ms)
    local = partition_log.local
    segments = local.segments
    floor = local.segment_index(uncleanable)
    first_uncleanable = (
        segments[floor].base_offset if floor < len(segments) - 1 else segments[-1].base_offset
    )
    low = min(first_dirty, first_uncleanable)
    cleanable = sum(
        s.size for s in segments[local.segment_index(low) :] if s.base_offset < first_uncleanable
    )
    clean = sum(s.size for s in segments if s.base_offset < first_dirty)
    delay = max_compaction_delay(partition_log, first_dirty, now_ms)
    return (
        LogToClean(tp, partition_log, first_dirty, first_uncleanable, clean, cleanable, delay > 0),
        invalid,
    )


class LogCleaner:
    """Compacts the logs of one data directory, one bounded step at a time."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        dedupe_buffer_size: int = DEFAULT_DEDUPE_BUFFER_SIZE,
        load_factor: float = DEFAULT_LOAD_FACTOR,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.map_capacity_bytes = max(1, int(dedupe_buffer_size * load_factor))
        self._checkpoint_file = OffsetCheckpointFile(self.data_dir / CLEANER_OFFSET_CHECKPOINT)
        self._checkpoints: dict[TopicPartition, int] | None = None
        self._round: CleaningRound | None = None
        self._round_tp: TopicPartition | None = None
        self._outstanding: StepWork | None = None
        self.uncleanable: set[TopicPartition] = set()
        self.rounds_completed = 0

    # --- checkpoint ------------------------------------------------------------------------------

    def checkpoints(self) -> dict[TopicPartition, int]:
        """The cleaner checkpoint (first dirty offset per partition), read once from disk."""
        if self._checkpoints is None:
            self._checkpoints = self._checkpoint_file.read()
        return self._checkpoints

    def _write_checkpoints(self, logs: Logs) -> None:
        live = {tp: o for tp, o in self.checkpoints().items() if tp in logs}
        self._checkpoints = live
        if self.data_dir.exists():
            self._checkpoint_file.write(live)

    def maybe_truncate_checkpoint(self, logs: Logs, tp: TopicPartition, offset: int) -> None:
        """The log was truncated to `offset`: abort its round and lower its checkpoint."""
        if self._round_tp == tp:
            self.abort("the log was truncated")
        if self.checkpoints().get(tp, 0) > offset:
            self.checkpoints()[tp] = offset
            self._write_checkpoints(logs)

    def forget(self, logs: Logs, tp: TopicPartition) -> None:
        """The partition was deleted: abort its round, drop its checkpoint entry."""
        if self._round_tp == tp:
            self.abort("the log was deleted")
        self.uncleanable.discard(tp)
        if tp in self.checkpoints():
            del self.checkpoints()[tp]
            self._write_checkpoints(logs)

    # --- choosing a log --------------------------------------------------------------------------

    def grab_filthiest_log(self, logs: Logs, now_ms: int) -> LogToClean | None:
        """The due log with the highest dirty ratio, if any (resets invalid checkpoints)."""
        best: LogToClean | None = None
        reset = False
        for tp, partition_log in logs.items():
            if not partition_log.config.compact or tp in self.uncleanable:
                continue
            ltc, invalid = log_to_clean(tp, partition_log, self.checkpoints().get(tp), now_ms)
            if invalid:
                self.checkpoints()[tp] = ltc.first_dirty_offset
                reset = True
            better = best is None or ltc.cleanable_ratio > best.cleanable_ratio
            if ltc.total_bytes > 0 and ltc.due and better:
                best = ltc
        if reset:
            self._write_checkpoints(logs)
        return best

    # --- steps -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a round is in progress."""
        return self._round is not None

    def begin_step(self, logs: Logs, now_ms: int, max_bytes: int) -> StepWork | None:
        """Start the next step (on the loop); None when nothing is due."""
        if self._outstanding is not None:
            raise RuntimeError("a cleaner step is already outstanding")
        if self._round is None and not self._start_round(logs, now_ms):
            return None
        cleaning = self._round
        assert cleaning is not None and self._round_tp is not None
        try:
            cleaning.check(logs.get(self._round_tp))
            work = cleaning.begin_step(max(1, max_bytes))
        except CleaningAborted as exc:
            self.abort(str(exc))
            return None
        except Exception as exc:  # as Kafka: a log that cannot be cleaned is skipped, logged
            self._mark_uncleanable(exc)
            return None
        if work is None:
            self._finish_round(logs)
            return None
        self._outstanding = work
        return work

    def complete_step(self, logs: Logs, work: StepWork) -> int:
        """Apply a step's result (on the loop); returns the segment bytes it read."""
        if work is not self._outstanding:
            raise RuntimeError("not the outstanding cleaner step")
        self._outstanding = None
        cleaning = self._round
        if cleaning is None or self._round_tp is None:
            return work.bytes_read  # aborted meanwhile (the log was deleted or truncated)
        try:
            cleaning.check(logs.get(self._round_tp))
            cleaning.complete_step(work)
        except CleaningAborted as exc:
            self.abort(str(exc))
        except Exception as exc:  # as Kafka: a log that cannot be cleaned is skipped, logged
            self._mark_uncleanable(exc)
        else:
            if cleaning.phase is Phase.DONE:
                self._finish_round(logs)
        return work.bytes_read

    def clean_step(self, logs: Logs, now_ms: int, max_bytes: int) -> int:
        """One whole step on the calling thread; returns bytes read (0 when idle)."""
        work = self.begin_step(logs, now_ms, max_bytes)
        if work is None:
            return 0
        work.run()
        return self.complete_step(logs, work)

    def clean_pass(self, logs: Logs, now_ms: int, max_bytes: int) -> CleanPass:
        """Steps until about `max_bytes` were read or nothing is due."""
        total, first = 0, self.rounds_completed
        while total < max_bytes:
            work = self._next_work(logs, now_ms, max_bytes - total)
            if work is None:
                break
            work.run()
            total += self.complete_step(logs, work)
        return CleanPass(total, self.rounds_completed - first, self.busy)

    async def clean_pass_async(
        self, logs: Logs, now_ms: int, max_bytes: int, executor: Executor | None = None
    ) -> CleanPass:
        """`clean_pass` with each step's `run()` in `executor` (see the module docstring)."""
        loop = asyncio.get_running_loop()
        total, first = 0, self.rounds_completed
        while total < max_bytes:
            work = self._next_work(logs, now_ms, max_bytes - total)
            if work is None:
                break
            try:
                await loop.run_in_executor(executor, work.run)
            finally:
                total += self.complete_step(logs, work)
        return CleanPass(total, self.rounds_completed - first, self.busy)

    def _next_work(self, logs: Logs, now_ms: int, max_bytes: int) -> StepWork | None:
        """`begin_step`, moving on to the next due log when a round ends without work."""
        for _ in range(len(logs) + 1):
            finished = self.rounds_completed
            work = self.begin_step(logs, now_ms, max_bytes)
            if work is not None or self.rounds_completed == finished:
                return work
        return None

    # --- rounds ----------------------------------------------------------------------------------

    def _start_round(self, logs: Logs, now_ms: int) -> bool:
        ltc = self.grab_filthiest_log(logs, now_ms)
        if ltc is None:
            return False
        name = f"{ltc.topic_partition[0]}-{ltc.topic_partition[1]}"
        log.info(
            "Cleaning %s: offsets [%d, %d), dirty ratio %.3f%s",
            name, ltc.first_dirty_offset, ltc.first_uncleanable_offset, ltc.cleanable_ratio,
            " (max.compaction.lag.ms passed)" if ltc.need_compaction_now else "",
        )  # fmt: skip
        self._round = CleaningRound(
            name, ltc.log, ltc.first_dirty_offset, ltc.first_uncleanable_offset, now_ms,
            self.map_capacity_bytes,
        )  # fmt: skip
        self._round_tp = ltc.topic_partition
        return True

    def _finish_round(self, logs: Logs) -> None:
        cleaning, tp = self._round, self._round_tp
        assert cleaning is not None and tp is not None
        self._round = self._round_tp = None
        self.checkpoints()[tp] = cleaning.end_offset
        self._write_checkpoints(logs)
        self.rounds_completed += 1
        stats = cleaning.stats
        log.info(
            "Cleaned %s up to offset %d: mapped %d records (%d bytes); read %d records "
            "(%d bytes), kept %d (%d bytes), dropped %d tombstones",
            cleaning.name, cleaning.end_offset, cleaning.map_records_read,
            cleaning.map_bytes_read, stats.records_read, stats.bytes_read,
            stats.records_retained, stats.bytes_retained, stats.tombstones_dropped,
        )  # fmt: skip

    def abort(self, reason: str = "aborted") -> None:
        """Abandon the round in progress (its `.cleaned` files are deleted)."""
        if self._round is None:
            return
        log.info("Cleaning of %s aborted: %s", self._round.name, reason)
        self._round.abort()
        self._round = self._round_tp = None

    def _mark_uncleanable(self, exc: BaseException) -> None:
        tp = self._round_tp
        log.error("Cannot clean %s, skipping it from now on: %s", tp, exc)
        if tp is not None:
            self.uncleanable.add(tp)
        self.abort(f"error: {exc}")

    def close(self) -> None:
        """Abandon any round in progress."""
        self.abort("the cleaner is closing")
