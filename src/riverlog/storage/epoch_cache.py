"""LeaderEpochCache: which leader epoch started at which offset (Kafka's LeaderEpochFileCache).

State: entries (epoch, start offset) with both strictly increasing. Persisted after every change
to the partition's `leader-epoch-checkpoint` (see checkpoint.py for the text format), written
atomically, so after a crash the file is an earlier or the current state, never a torn one.

Invariants, as in Kafka:
- `assign(epoch, start)` is a no-op when `epoch` is the latest epoch and `start` is not earlier;
  otherwise every entry with epoch >= `epoch` or start >= `start` is removed first, keeping the
  list monotonic (a follower that saw a diverging history drops it).
- `truncate_from_end(end)` drops entries starting at or after `end` (log truncation).
- `truncate_from_start(start)` drops entries wholly before `start`, moving the last of them up
  to `start` (log start offset moved by retention or DeleteRecords).
- `end_offset_for(epoch, log_end_offset)` answers OffsetForLeaderEpoch: the latest epoch
  ends at the log end offset; another epoch ends where the next higher epoch starts; an
  unknown (too new) epoch gives (-1, -1).

The log reconciles the cache on open: recovery re-assigns epochs from batch headers and the
cache is truncated to the recovered log end offset and the log start offset.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from pathlib import Path

from riverlog.storage.checkpoint import LEADER_EPOCH_CHECKPOINT, LeaderEpochCheckpointFile

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochCache:
    """Epoch start offsets of one partition, persisted in its leader-epoch-checkpoint."""

    def __init__(self, directory: Path) -> None:
        self._file = LeaderEpochCheckpointFile(directory / LEADER_EPOCH_CHECKPOINT)
        self._epochs: list[int] = []
        self._starts: list[int] = []
        for epoch, start in self._file.read():
            self._assign(epoch, start)

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self._file.path

    def entries(self) -> list[tuple[int, int]]:
        """All (epoch, start offset) entries, oldest first."""
        return list(zip(self._epochs, self._starts, strict=True))

    @property
    def latest_epoch(self) -> int:
        """The latest epoch, or -1 when none is known."""
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that `epoch` started at `start_offset` (no-op if already known)."""
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"Invalid epoch {epoch} / start offset {start_offset}")
        if self._assign(epoch, start_offset):
            self._flush()

    def _assign(self, epoch: int, start_offset: int) -> bool:
        if self._epochs and epoch == self._epochs[-1] and start_offset >= self._starts[-1]:
            return False
        while self._epochs and (self._epochs[-1] >= epoch or self._starts[-1] >= start_offset):
            self._epochs.pop()
            self._starts.pop()
        self._epochs.append(epoch)
        self._starts.append(start_offset)
        return True

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch the given offset was written in, or -1 if before every entry."""
        i = bisect_right(self._starts, offset)
        return self._epochs[i - 1] if i else UNDEFINED_EPOCH

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) per OffsetForLeaderEpoch; (-1, -1) when unknown."""
        if epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if epoch == self._epochs[-1]:
            return epoch, log_end_offset
        higher = bisect_right(self._epochs, epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            # Older than anything we know: the epoch "ends" where our first one starts.
            return epoch, self._starts[0]
        return self._epochs[higher - 1], self._starts[higher]

    def truncate_from_end(self, end_offset: int) -> None:
        """Remove the entries starting at or after `end_offset`."""
        keep = bisect_left(self._starts, end_offset)
        if end_offset >= 0 and keep < len(self._starts):
            del self._epochs[keep:]
            del self._starts[keep:]
            self._flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """Remove the entries wholly before `start_offset`; the last one moves up to it."""
        covered = bisect_right(self._starts, start_offset)
        if covered == 0 or (covered == 1 and self._starts[0] == start_offset):
            return
        epoch = self._epochs[covered - 1]
        del self._epochs[:covered]
        del self._starts[:covered]
        self._epochs.insert(0, epoch)
        self._starts.insert(0, start_offset)
        self._flush()

    def clear(self) -> None:
        """Forget every entry (full truncation)."""
        if self._epochs:
            self._epochs.clear()
            self._starts.clear()
            self._flush()

    def _flush(self) -> None:
        self._file.write(self.entries())
