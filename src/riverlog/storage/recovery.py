"""Opening a partition log: stray files, segment recovery, producer state and epoch rebuild.

`load_log` runs on every open:
1. interrupted file operations are cleaned up or finished (swap.py);
2. every `<base>.log` is opened; indexes that are missing or fail their sanity check are
   flagged and rebuilt (one WARNING line each);
3. every segment from the one holding the recovery point onwards is recovered: each batch is
   re-read and checked (size, magic, CRC, offset order), indexes and the transaction index are
   rebuilt and producer state / leader epochs replayed. At the first bad batch the segment is
   truncated and every later segment deleted, with one WARNING line saying what was cut;
4. the leader epoch cache is truncated to [log start offset, log end offset] and producer state
   is loaded from the latest snapshot at or below the log end offset, then the log after it is
   replayed (headers only; markers decoded).

Crash behaviour of recovery itself: it only truncates, rewrites indexes and deletes files, so
a crash during recovery leaves work that the next recovery redoes from the same recovery point.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from riverlog.protocol.records import BatchHeader
from riverlog.storage import swap
from riverlog.storage.config import LogConfig
from riverlog.storage.epoch_cache import LeaderEpochCache
from riverlog.storage.producer_state import ProducerStateManager
from riverlog.storage.segment import LogSegment
from riverlog.storage.txn_index import AbortedTxn

log = logging.getLogger(__name__)

_LOG_FILE = re.compile(r"^(\d{20})\.log$")


@dataclass(slots=True)
class LoadedLog:
    """What `load_log` hands to PartitionLog."""

    directory: Path
    segments: list[LogSegment]
    log_start_offset: int
    recovery_point: int
    epoch_cache: LeaderEpochCache
    producer_state: ProducerStateManager


def load_log(
    directory: Path,
    config: LogConfig,
    now_ms: int,
    recovery_point: int | None,
    log_start_offset: int | None,
) -> LoadedLog:
    """Open, recover and reconcile the log in `directory` (see the module docstring)."""
    swap.remove_stray_files(directory)
    swap.complete_interrupted_swaps(directory, config, now_ms)
    segments = _open_segments(directory, config, now_ms)
    if not segments:
        segments = [LogSegment.create(directory, log_start_offset or 0, config, now_ms)]
    epoch_cache = LeaderEpochCache(directory)
    state = ProducerStateManager(directory, config.producer_id_expiration_ms)
    start = max(log_start_offset or 0, segments[0].base_offset)
    first_base = segments[0].base_offset
    point = first_base if recovery_point is None else max(recovery_point, first_base)
    segments, recovered = _recover_segments(
        directory, segments, point, state, epoch_cache, start, now_ms
    )
    end = segments[-1].next_offset
    start = min(start, end)
    epoch_cache.truncate_from_end(end)
    epoch_cache.truncate_from_start(start)
    if not recovered or state.map_end_offset != end:
        rebuild_producer_state(segments, state, start, end, now_ms)
    return LoadedLog(directory, segments, start, min(point, end), epoch_cache, state)


def _open_segments(directory: Path, config: LogConfig, now_ms: int) -> list[LogSegment]:
    bases = sorted(int(m.group(1)) for p in directory.iterdir() if (m := _LOG_FILE.match(p.name)))
    return [LogSegment.open(directory, base, config, now_ms) for base in bases]


def _recover_segments(
    directory: Path,
    segments: list[LogSegment],
    recovery_point: int,
    state: ProducerStateManager,
    epoch_cache: LeaderEpochCache,
    log_start: int,
    now_ms: int,
) -> tuple[list[LogSegment], bool]:
    """Recover unflushed segments and those with broken indexes; returns (segments, whether
    producer state was rebuilt along the way)."""
    state_current = False
    for i, segment in enumerate(segments):
        unflushed = i == len(segments) - 1 or segments[i + 1].base_offset > recovery_point
        if not unflushed:
            if segment.index_error is None:
                continue
            # A flushed segment with unusable indexes (unflushed ones are rebuilt anyway).
            log.warning(
                "Rebuilding index files of %s/%s: %s",
                directory.name, segment.log_path.name, segment.index_error,
            )  # fmt: skip
        if not state_current or state.map_end_offset != segment.base_offset:
            rebuild_producer_state(segments[:i], state, log_start, segment.base_offset, now_ms)
        state_current = True
        truncated, reason = segment.recover(_replayer(segment, state, epoch_cache))
        # As Kafka: a snapshot at the segment's end, so recovering the next one needs no replay.
        state.map_end_offset = segment.next_offset
        state.take_snapshot()
        if truncated:
            dropped = segments[i + 1 :]
            log.warning(
                "Truncated %d bytes at position %d of %s/%s (log end offset now %d, %d later "
                "segment(s) deleted): %s",
                truncated, segment.size, directory.name, segment.log_path.name,
                segment.next_offset, len(dropped), reason,
            )  # fmt: skip
            for later in dropped:
                later.delete()
            return segments[: i + 1], True
    return segments, state_current


def _replayer(
    segment: LogSegment, state: ProducerStateManager, epoch_cache: LeaderEpochCache
) -> Callable[[BatchHeader, bytes, int], None]:
    """The per-batch callback of segment recovery: epochs, producer state, aborted txns."""

    def on_batch(header: BatchHeader, chunk: bytes, pos: int) -> None:
        epoch = header.partition_leader_epoch
        if epoch >= 0 and epoch > epoch_cache.latest_epoch:
            epoch_cache.assign(epoch, header.base_offset)
        txn = state.replay_batch(header, chunk, pos)
        if txn is not None:
            if txn.is_aborted:
                lso = state.last_stable_offset_for(txn)
                segment.txn_index.append(
                    AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso)
                )
            state.complete_txn(txn)
        state.map_end_offset = header.last_offset + 1

    return on_batch


def rebuild_producer_state(
    segments: list[LogSegment],
    state: ProducerStateManager,
    log_start: int,
    end_offset: int,
    now_ms: int,
) -> None:
    """Load the latest snapshot at or below `end_offset` and replay the log after it."""
    state.truncate_and_reload(log_start, end_offset, now_ms)
    start = state.map_end_offset
    for segment in segments:
        if segment.next_offset <= start or segment.base_offset >= end_offset:
            continue
        position = 0
        if start > segment.base_offset:
            located = segment.translate_offset(start)
            if located is None:
                continue
            position = located[0]
        for pos, header in segment.iter_headers(position):
            if header.base_offset >= end_offset:
                break
            if header.producer_id < 0:
                continue
            data = segment.read_batch(pos, header.size) if header.is_control else b""
            txn = state.replay_batch(header, data, 0)
            if txn is not None:
                state.complete_txn(txn)
    state.map_end_offset = end_offset
