"""Checkpoint files in Kafka's text format, always replaced atomically.

Offset checkpoints (data-dir level: `recovery-point-offset-checkpoint`,
`log-start-offset-checkpoint`, `replication-offset-checkpoint`, `cleaner-offset-checkpoint`)::

    0                      <- format version
    2                      <- number of entries
    orders 0 1234          <- topic partition offset
    orders 1 99

Leader epoch checkpoint (one per partition dir: `leader-epoch-checkpoint`)::

    0
    2
    3 0                    <- epoch start-offset
    5 1200

Crash behaviour: a checkpoint is written to `<name>.tmp`, fsynced, renamed over `<name>` and the
directory is fsynced, so after a crash the file holds either the old or the new content, never a
mix. A stray `.tmp` is ignored (and replaced on the next write). A file that does not parse raises
KafkaStorageError naming the file: storage never guesses at a corrupt checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from riverlog.storage.errors import KafkaStorageError

CHECKPOINT_VERSION = 0
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"


def fsync_dir(directory: Path) -> None:
    """Make renames/creations inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: write temp, fsync, rename, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _format(lines: Iterable[str], count: int) -> bytes:
    body = "".join(line + "\n" for line in lines)
    return f"{CHECKPOINT_VERSION}\n{count}\n{body}".encode()


def _parse(path: Path, fields: int) -> list[list[str]]:
    """Lines of a checkpoint as lists of `fields` whitespace-separated tokens."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise KafkaStorageError(f"Cannot read checkpoint {path}: {exc}") from exc
    lines = text.splitlines()
    try:
        version, count = int(lines[0]), int(lines[1])
    except (IndexError, ValueError):
        raise KafkaStorageError(f"Malformed checkpoint header in {path}") from None
    if version != CHECKPOINT_VERSION:
        raise KafkaStorageError(f"Unrecognized checkpoint version {version} in {path}")
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count or any(len(entry) != fields for entry in entries):
        raise KafkaStorageError(f"Checkpoint {path} expected {count} entries of {fields} fields")
    return entries


class OffsetCheckpointFile:
    """A `topic partition offset` checkpoint for every partition of a data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Replace the file with `offsets` (sorted for readable diffs)."""
        lines = [f"{t} {p} {o}" for (t, p), o in sorted(offsets.items())]
        write_atomically(self.path, _format(lines, len(lines)))

    def read(self) -> dict[tuple[str, int], int]:
        """The stored offsets; empty when the file does not exist."""
        result: dict[tuple[str, int], int] = {}
        for topic, partition, offset in _parse(self.path, 3):
            try:
                result[(topic, int(partition))] = int(offset)
            except ValueError:
                raise KafkaStorageError(f"Malformed entry in {self.path}: {topic}") from None
        return result


class LeaderEpochCheckpointFile:
    """The `epoch start-offset` lines of one partition's leader-epoch-checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, entries: Iterable[tuple[int, int]]) -> None:
        """Replace the file with `entries` (epoch, start offset), in order."""
        lines = [f"{epoch} {offset}" for epoch, offset in entries]
        write_atomically(self.path, _format(lines, len(lines)))

    def read(self) -> list[tuple[int, int]]:
        """The stored entries; empty when the file does not exist."""
        try:
            return [(int(e), int(o)) for e, o in _parse(self.path, 2)]
        except ValueError:
            raise KafkaStorageError(f"Malformed entry in {self.path}") from None
