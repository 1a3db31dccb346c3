"""`RestoreProgress`: a StateRestoreListener that draws a progress bar per restoring store partition.

    app.set_global_state_restore_listener(RestoreProgress())

One bar per changelog partition (`restoring <store> [<partition>]`, records restored of those between
the starting offset and the end offset at the start), on stderr through rich; bars appear while
something restores and the display stops when the last restoration ends. Several stream threads may
call it at once: a lock guards the display.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from riverlog.streams.records import TopicPartition
from riverlog.streams.runtime.restore import StateRestoreListener


class RestoreProgress(StateRestoreListener):
    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._bars: dict[TopicPartition, TaskID] = {}
        self._lock = threading.Lock()

    def on_restore_start(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        starting_offset: int,
        ending_offset: int,
    ) -> None:
        with self._lock:
            if not self._bars:
                self._progress.start()
            self._bars[topic_partition] = self._progress.add_task(
                f"restoring {store_name} [{topic_partition.partition}]",
                total=max(ending_offset - starting_offset, 0),
            )

    def on_batch_restored(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        batch_end_offset: int,
        num_restored: int,
    ) -> None:
        with self._lock:
            bar = self._bars.get(topic_partition)
            if bar is not None:
                self._progress.advance(bar, num_restored)

    def on_restore_end(
        self, topic_partition: TopicPartition, store_name: str, total_restored: int
    ) -> None:
        with self._lock:
            bar = self._bars.pop(topic_partition, None)
            if bar is None:
                return
            # Compacted or transactional changelogs hold fewer records than offsets: the bar ends full.
            self._progress.update(bar, total=total_restored, completed=total_restored)
            if not self._bars:
                self._progress.stop()
