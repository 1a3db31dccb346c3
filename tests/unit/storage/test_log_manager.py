"""LogManager: partition dirs, data-dir checkpoints, deletion, passes, restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_batches import BASE_TS, batch

from riverlog.storage import LogConfig, LogManager, ManualClock
from riverlog.storage.errors import KafkaStorageError
from riverlog.storage.manager import parse_partition_dir

NOW = BASE_TS


def test_partition_dir_names() -> None:
    assert parse_partition_dir("orders-3") == ("orders", 3)
    assert parse_partition_dir("my-topic.v2-12") == ("my-topic.v2", 12)
    assert parse_partition_dir("orders-3.0123456789abcdef0123456789abcdef-delete") is None
    assert parse_partition_dir("meta.properties") is None


def test_create_append_checkpoint_restart(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, LogConfig(), clock)
    manager.load()
    orders = manager.get_or_create("orders", 0)
    assert manager.get_or_create("orders", 0) is orders
    orders.append(batch(3), leader_epoch=0, now_ms=NOW)
    orders.high_watermark = 2
    other = manager.get_or_create("my-topic.v2", 1, LogConfig(segment_bytes=1000))
    other.append(batch(1), leader_epoch=0, now_ms=NOW)
    assert manager.partitions() == [("my-topic.v2", 1), ("orders", 0)]
    assert (tmp_path / "orders-0" / "00000000000000000000.log").exists()
    manager.close()
    assert (
        tmp_path / "replication-offset-checkpoint"
    ).read_text() == "0\n2\nmy-topic.v2 1 0\norders 0 2\n"
    assert (
        tmp_path / "recovery-point-offset-checkpoint"
    ).read_text() == "0\n2\nmy-topic.v2 1 1\norders 0 3\n"
    assert (
        tmp_path / "log-start-offset-checkpoint"
    ).read_text() == "0\n2\nmy-topic.v2 1 0\norders 0 0\n"

    restarted = LogManager(tmp_path, LogConfig(), clock)
    restarted.load({"my-topic.v2": LogConfig(segment_bytes=1000)})
    orders = restarted.get("orders", 0)
    assert orders is not None and orders.log_end_offset == 3 and orders.high_watermark == 2
    assert orders.recovery_point == 3
    other = restarted.get("my-topic.v2", 1)
    assert other is not None and other.config.segment_bytes == 1000
    restarted.close()


def test_data_dir_is_locked(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, LogConfig(), clock)
    manager.load()
    with pytest.raises(KafkaStorageError, match="in use"):
        LogManager(tmp_path, LogConfig(), clock).load()
    manager.close()
    again = LogManager(tmp_path, LogConfig(), clock)
    again.load()
    again.close()


def test_delete_partition(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, LogConfig(), clock)
    manager.load()
    manager.get_or_create("t", 0).append(batch(1), leader_epoch=0, now_ms=NOW)
    manager.get_or_create("t", 1)
    manager.delete("t", 0)
    assert manager.get("t", 0) is None
    assert not (tmp_path / "t-0").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("-delete")]
    assert "t 0" not in (tmp_path / "recovery-point-offset-checkpoint").read_text()
    manager.close()


def test_leftover_delete_dir_is_removed_on_load(tmp_path: Path, clock: ManualClock) -> None:
    doomed = tmp_path / "t-0.0123456789abcdef0123456789abcdef-delete"
    doomed.mkdir()
    (doomed / "00000000000000000000.log").write_bytes(b"x")
    manager = LogManager(tmp_path, LogConfig(), clock)
    manager.load()
    assert not doomed.exists() and manager.partitions() == []
    manager.close()


def test_retention_and_flush_passes(tmp_path: Path, clock: ManualClock) -> None:
    size = len(batch(2))
    config = LogConfig(segment_bytes=2 * size, retention_ms=1000, flush_ms=5000)
    manager = LogManager(tmp_path, config, clock)
    manager.load()
    log = manager.get_or_create("t", 0)
    for _ in range(6):
        log.append(batch(2), leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset
    # rolled segments are flushed by the next pass (Kafka flushes on roll), then by flush.ms
    assert manager.flush_pass(NOW) == 1
    assert (
        log.recovery_point == log.active_segment.base_offset
        or log.recovery_point == log.log_end_offset
    )
    log.append(batch(2), leader_epoch=0, now_ms=NOW)
    assert manager.flush_pass(NOW + 1) == 0
    clock.advance(5000)
    assert manager.flush_pass(clock.now_ms()) == 1
    assert log.recovery_point == log.log_end_offset
    assert manager.retention_pass(NOW + 1002) == 3
    assert "t 0 12" in (tmp_path / "log-start-offset-checkpoint").read_text()
    manager.close()


def test_flush_messages_flushes_from_append(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, LogConfig(flush_messages=3), clock)
    manager.load()
    log = manager.get_or_create("t", 0)
    log.append(batch(2), leader_epoch=0, now_ms=NOW)
    assert log.recovery_point == 0
    log.append(batch(1), leader_epoch=0, now_ms=NOW)
    assert log.recovery_point == 3
    manager.close()


def test_get_or_create_updates_config(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, LogConfig(), clock)
    manager.load()
    manager.get_or_create("t", 0)
    log = manager.get_or_create("t", 0, LogConfig(max_message_bytes=100))
    assert log.config.max_message_bytes == 100
    assert log.active_segment.config.max_message_bytes == 100
    manager.close()
