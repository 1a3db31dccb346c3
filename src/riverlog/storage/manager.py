"""LogManager: every partition log under one data directory, and the data-dir checkpoints.

Layout of `data_dir`::

    .lock                               held (flock) while a LogManager owns the directory
    recovery-point-offset-checkpoint    per partition: offsets below are known durable
    log-start-offset-checkpoint         per partition: the log start offset
    replication-offset-checkpoint       per partition: the high watermark
    cleaner-offset-checkpoint           per partition: the first offset compaction has not
                                        cleaned yet (owned by the LogCleaner, cleaner.py)
    <topic>-<partition>/                one PartitionLog each
    <topic>-<partition>.<uuid>-delete/  a partition being deleted

Checkpoints use Kafka's text format (checkpoint.py) and are replaced atomically by
`checkpoint()`, which the broker calls on a timer and which runs on `close()`; `flush_pass` and
`retention_pass` also write them when they moved an offset. Compaction runs through
`clean_pass` / `clean_pass_async` (how the broker should drive them: cleaner.py).

Crash behaviour: a partition is deleted by renaming its directory to `...-delete` (atomic), then
removing it; `load()` removes any leftover `-delete` directory. A recovery point checkpoint
that lags the logs only costs recovery time; a missing entry means "recover everything".
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING

from riverlog.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
    OffsetCheckpointFile,
    fsync_dir,
)
from riverlog.storage.clock import SYSTEM_CLOCK, Clock
from riverlog.storage.config import DEFAULT_DEDUPE_BUFFER_SIZE, DEFAULT_STEP_BYTES, LogConfig
from riverlog.storage.errors import KafkaStorageError
from riverlog.storage.log import PartitionLog

if TYPE_CHECKING:
    from riverlog.storage.cleaner import CleanPass, LogCleaner

log = logging.getLogger(__name__)

_PARTITION_DIR = re.compile(r"^(.+)-(\d+)$")
_DELETE_DIR = re.compile(r"^(.+)-(\d+)\.[0-9a-f]{32}-delete$")
LOCK_FILE = ".lock"

TopicPartition = tuple[str, int]


def partition_dir_name(topic: str, partition: int) -> str:
    """Kafka's partition directory name: `<topic>-<partition>`."""
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> TopicPartition | None:
    """(topic, partition) of a partition directory name, None for anything else."""
    match = _PARTITION_DIR.match(name)
    if match is None or _DELETE_DIR.match(name):
        return None
    return match.group(1), int(match.group(2))


class LogManager:
    """Owns the partition logs of one data directory."""

    def __init__(
        self,
        data_dir: Path | str,
        default_config: LogConfig,
        clock: Clock = SYSTEM_CLOCK,
        *,
        cleaner_dedupe_buffer_size: int = DEFAULT_DEDUPE_BUFFER_SIZE,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.default_config = default_config
        self.clock = clock
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._lock_fd = -1
        self._recovery_points = OffsetCheckpointFile(self.data_dir / RECOVERY_POINT_CHECKPOINT)
        self._log_starts = OffsetCheckpointFile(self.data_dir / LOG_START_OFFSET_CHECKPOINT)
        self._high_watermarks = OffsetCheckpointFile(self.data_dir / REPLICATION_OFFSET_CHECKPOINT)
        self._dedupe_buffer_size = cleaner_dedupe_buffer_size
        self._cleaner: LogCleaner | None = None

    @property
    def cleaner(self) -> LogCleaner:
        """The log cleaner, imported and built on first use (compaction is not on the start path)."""
        if self._cleaner is None:
            from riverlog.storage.cleaner import LogCleaner

            self._cleaner = LogCleaner(self.data_dir, dedupe_buffer_size=self._dedupe_buffer_size)
        return self._cleaner

    def load(self, topic_configs: Mapping[str, LogConfig] | None = None) -> None:
        """Lock the data dir and open every partition log in it (recovering as needed)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        recovery_points = self._recovery_points.read()
        log_starts = self._log_starts.read()
        high_watermarks = self._high_watermarks.read()
        configs = topic_configs or {}
        for path in sorted(self.data_dir.iterdir()):
            if not path.is_dir():
                continue
            if _DELETE_DIR.match(path.name):
                log.info("Removing partition directory %s left from a deletion", path.name)
                shutil.rmtree(path, ignore_errors=True)
                continue
            tp = parse_partition_dir(path.name)
            if tp is None:
                continue
            self._add(
                tp,
                PartitionLog.open(
                    path,
                    configs.get(tp[0], self.default_config),
                    clock=self.clock,
                    recovery_point=recovery_points.get(tp, 0),
                    log_start_offset=log_starts.get(tp),
                    high_watermark=high_watermarks.get(tp),
                ),
            )

    def _add(self, tp: TopicPartition, partition_log: PartitionLog) -> None:
        partition_log.on_truncated = lambda offset: self.cleaner.maybe_truncate_checkpoint(
            self._logs, tp, offset
        )
        self._logs[tp] = partition_log

    def _lock(self) -> None:
        if self._lock_fd >= 0:
            return
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise KafkaStorageError(
                f"Data directory {self.data_dir} is in use by another process"
            ) from None
        self._lock_fd = fd

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def get_or_create(
        self, topic: str, partition: int, config: LogConfig | None = None
    ) -> PartitionLog:
        """The partition's log, created empty if new; an existing log takes `config`."""
        existing = self._logs.get((topic, partition))
        if existing is not None:
            if config is not None and config != existing.config:
                existing.update_config(config)
            return existing
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / partition_dir_name(topic, partition)
        created = PartitionLog.open(
            path, config or self.default_config, clock=self.clock, recovery_point=0
        )
        fsync_dir(self.data_dir)
        self._add((topic, partition), created)
        return created

    def delete(self, topic: str, partition: int) -> None:
        """Delete the partition's log: rename to `<dir>.<uuid>-delete`, then remove it."""
        partition_log = self._logs.pop((topic, partition), None)
        if partition_log is None:
            return
        self.cleaner.forget(self._logs, (topic, partition))
        partition_log.close_handles()
        doomed = partition_log.directory.with_name(
            f"{partition_log.directory.name}.{uuid.uuid4().hex}-delete"
        )
        os.replace(partition_log.directory, doomed)
        fsync_dir(self.data_dir)
        shutil.rmtree(doomed, ignore_errors=True)
        self.checkpoint()

    def partitions(self) -> list[TopicPartition]:
        """Every (topic, partition) with a log here, sorted."""
        return sorted(self._logs)

    def logs(self) -> dict[TopicPartition, PartitionLog]:
        """A copy of the log map."""
        return dict(self._logs)

    def checkpoint(self) -> None:
        """Write the recovery point, log start offset and high watermark checkpoints."""
        if not self.data_dir.exists():
            return
        logs = self._logs.items()
        self._recovery_points.write({tp: lg.recovery_point for tp, lg in logs})
        self._log_starts.write({tp: lg.log_start_offset for tp, lg in logs})
        self._high_watermarks.write({tp: lg.high_watermark for tp, lg in logs})

    def retention_pass(self, now_ms: int) -> int:
        """Delete segments past retention in every log; returns how many were deleted."""
        deleted = 0
        for partition_log in self._logs.values():
            deleted += partition_log.delete_old_segments(now_ms)
            partition_log.remove_expired_producers(now_ms)
        if deleted:
            self.checkpoint()
        return deleted

    def flush_pass(self, now_ms: int) -> int:
        """Flush logs due by flush.ms or with a rolled, unflushed segment; returns how many."""
        flushed = sum(1 for lg in self._logs.values() if lg.maybe_flush(now_ms))
        if flushed:
            self.checkpoint()
        return flushed

    def clean_pass(self, now_ms: int, max_bytes: int = DEFAULT_STEP_BYTES) -> CleanPass:
        """Compaction: cleaner steps on this thread until about `max_bytes` of segment data
        were read or no compacted log is due (see cleaner.py for how to drive it)."""
        return self.cleaner.clean_pass(self._logs, now_ms, max_bytes)

    async def clean_pass_async(
        self, now_ms: int, max_bytes: int = DEFAULT_STEP_BYTES, executor: Executor | None = None
    ) -> CleanPass:
        """`clean_pass` with the decoding/filtering and fsync of each step in `executor`."""
        return await self.cleaner.clean_pass_async(self._logs, now_ms, max_bytes, executor)

    def close(self) -> None:
        """Flush and close every log, write the checkpoints, release the directory."""
        if self._cleaner is not None:
            self._cleaner.close()
        for partition_log in self._logs.values():
            partition_log.close()
        self.checkpoint()
        self._logs.clear()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
