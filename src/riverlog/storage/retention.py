"""Retention: which old segments to delete (Kafka's deleteOldSegments), as pure functions.

Rules, applied one after the other as Kafka does, each deleting a prefix of the log and
stopping at the first segment that does not qualify:
1. retention.ms (cleanup.policy has `delete`, retention.ms >= 0): the segment's largest
   timestamp (or file mtime without timestamps) is older than now - retention.ms;
2. retention.bytes (`delete`, retention.bytes >= 0): the log is larger than retention.bytes
   even without the segment;
3. log start offset (any policy): the next segment starts at or below the log start offset.
Only whole segments are deleted, never the active one, and only segments wholly below the high
watermark (a follower may still need them otherwise).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from riverlog.storage.config import LogConfig
from riverlog.storage.segment import LogSegment


def _prefix(
    segments: Sequence[LogSegment],
    high_watermark: int,
    predicate: Callable[[LogSegment, int], bool],
) -> int:
    """How many leading inactive segments satisfy `predicate(segment, next base offset)`."""
    count = 0
    for segment, following in itertools.pairwise(segments):
        next_base = following.base_offset
        if next_base > high_watermark or not predicate(segment, next_base):
            break
        count += 1
    return count


def deletable_segments(
    segments: Sequence[LogSegment],
    config: LogConfig,
    now_ms: int,
    high_watermark: int,
    log_start_offset: int,
) -> list[LogSegment]:
    """The segments retention deletes now, oldest first."""
    remaining = list(segments)
    doomed: list[LogSegment] = []

    def take(predicate: Callable[[LogSegment, int], bool]) -> None:
        nonlocal remaining
        count = _prefix(remaining, high_watermark, predicate)
        doomed.extend(remaining[:count])
        remaining = remaining[count:]

    if config.delete and config.retention_ms >= 0:
        take(lambda s, _: now_ms - s.largest_timestamp > config.retention_ms)
    if config.delete and config.retention_bytes >= 0:
        excess = sum(s.size for s in remaining) - config.retention_bytes

        def over_size(segment: LogSegment, _: int) -> bool:
            nonlocal excess
            if excess - segment.size < 0:
                return False
            excess -= segment.size
            return True

        take(over_size)
    take(lambda _, next_base: next_base <= log_start_offset)
    return doomed


def below_log_start(segments: Sequence[LogSegment], log_start_offset: int) -> list[LogSegment]:
    """Inactive segments wholly below the log start offset."""
    count = _prefix(segments, log_start_offset, lambda _, next_base: next_base <= log_start_offset)
    return list(segments[:count])
