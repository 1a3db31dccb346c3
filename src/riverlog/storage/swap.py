"""Segment replacement (compaction's swap) and the clean-up of interrupted file operations.

Suffixes, Kafka's: `.cleaned` (a segment being written by the cleaner), `.swap` (a complete
replacement waiting to take the place of old segments), `.deleted` (a segment being removed).

`replace_segments` protocol (each step's files are durable before the next starts):
1. flush the new segments; rename `.cleaned` -> `.swap`; fsync the directory;
2. rename the old segments' files to `.deleted`;
3. rename `.swap` -> final names; fsync the directory; unlink the `.deleted` files.

What recovery finds after a crash, and does (`remove_stray_files`, `complete_interrupted_swaps`):
- `.deleted` files: the segment was already dropped; delete them.
- `.cleaned` files: cleaning did not finish; delete them, and every `.swap` file at or above
  the lowest cleaned base offset (it belongs to the same unfinished group); the old segments
  are intact.
- `.swap` files (crash after step 1): the replacement is complete; delete the normal segments
  whose base offsets fall inside each swap segment's offset range, then rename it into place.
- `.tmp` files (checkpoint temps) and index files with no `.log`: delete them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from riverlog.storage.checkpoint import fsync_dir
from riverlog.storage.config import LogConfig
from riverlog.storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    LogSegment,
)

log = logging.getLogger(__name__)

_SEGMENT_FILE = re.compile(
    r"^(\d{20})(\.log|\.index|\.timeindex|\.txnindex)(\.cleaned|\.swap|\.deleted)?$"
)
_KINDS = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)


def replace_segments(
    directory: Path,
    segments: list[LogSegment],
    new_segments: list[LogSegment],
    old_segments: list[LogSegment],
) -> list[LogSegment]:
    """Run the swap protocol; returns the log's new segment list (sorted by base offset)."""
    for segment in new_segments:
        segment.flush()
        segment.change_suffix(CLEANED_SUFFIX, SWAP_SUFFIX)
    fsync_dir(directory)
    for segment in old_segments:
        segment.change_suffix(segment.suffix, DELETED_SUFFIX)
    for segment in new_segments:
        segment.change_suffix(SWAP_SUFFIX, "")
    fsync_dir(directory)
    for segment in old_segments:
        segment.delete()
    doomed = {id(s) for s in old_segments}
    kept = [s for s in segments if id(s) not in doomed]
    return sorted(kept + list(new_segments), key=lambda s: s.base_offset)


def _segment_files(directory: Path) -> list[tuple[Path, int, str, str]]:
    """(path, base offset, kind, suffix) of every segment-like file."""
    found = []
    for path in directory.iterdir():
        match = _SEGMENT_FILE.match(path.name)
        if match:
            found.append((path, int(match.group(1)), match.group(2), match.group(3) or ""))
    return found


def remove_stray_files(directory: Path) -> None:
    """Delete temp, `.deleted`, `.cleaned` (and their group's `.swap`) and orphan index files."""
    for path in directory.glob("*.tmp"):
        path.unlink(missing_ok=True)
    files = _segment_files(directory)
    cleaned = [base for _, base, _, suffix in files if suffix == CLEANED_SUFFIX]
    min_cleaned = min(cleaned) if cleaned else None
    logs = {base for _, base, kind, suffix in files if kind == LOG_SUFFIX and suffix == ""}
    swaps = {
        base for _, base, kind, suffix in files if kind == LOG_SUFFIX and suffix == SWAP_SUFFIX
    }
    for path, base, kind, suffix in files:
        unfinished_swap = suffix == SWAP_SUFFIX and min_cleaned is not None and base >= min_cleaned
        orphan = suffix == "" and kind != LOG_SUFFIX and base not in logs
        orphan_swap = suffix == SWAP_SUFFIX and kind != LOG_SUFFIX and base not in swaps
        if suffix in (DELETED_SUFFIX, CLEANED_SUFFIX) or unfinished_swap or orphan or orphan_swap:
            log.info("Deleting stray file %s", path)
            path.unlink(missing_ok=True)


def complete_interrupted_swaps(directory: Path, config: LogConfig, now_ms: int) -> None:
    """Finish every replacement whose `.swap` files survived a crash."""
    files = _segment_files(directory)
    swap_bases = sorted(b for _, b, k, s in files if k == LOG_SUFFIX and s == SWAP_SUFFIX)
    for base in swap_bases:
        segment = LogSegment.open(directory, base, config, now_ms, suffix=SWAP_SUFFIX)
        if segment.index_error is not None:
            segment.recover()
        for path, other, _kind, suffix in _segment_files(directory):
            if suffix == "" and base <= other < max(segment.next_offset, base + 1):
                path.unlink(missing_ok=True)
        segment.change_suffix(SWAP_SUFFIX, "")
        segment.close()
        log.warning("Completed an interrupted segment swap at offset %d in %s", base, directory)
    if swap_bases:
        fsync_dir(directory)
