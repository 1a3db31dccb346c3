"""Fixtures for storage tests: a manual clock and log factories in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_batches import BASE_TS, LogFactory

from riverlog.storage import LogConfig, ManualClock, PartitionLog


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(BASE_TS)


@pytest.fixture
def open_log(tmp_path: Path, clock: ManualClock) -> Iterator[LogFactory]:
    """Opens `<tmp>/topic-0` with the given LogConfig fields; closes every log at the end."""
    opened: list[PartitionLog] = []

    def factory(config: LogConfig | None = None, **fields: object) -> PartitionLog:
        cfg = config or LogConfig(**fields)  # type: ignore[arg-type]
        partition_log = PartitionLog.open(tmp_path / "topic-0", cfg, clock=clock)
        opened.append(partition_log)
        return partition_log

    yield factory
    for partition_log in opened:
        partition_log.close_handles()
