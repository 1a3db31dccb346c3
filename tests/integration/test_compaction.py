"""A compacted topic end to end: the broker's cleaner keeps the latest record per key."""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from riverlog.testing.broker import RunningBroker


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "compaction-check",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    out: list[tuple[int, bytes, bytes | None]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out or out[-1][0] < high - 1):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            out.append((msg.offset(), msg.key(), msg.value()))
    consumer.close()
    return out


def test_broker_compacts_a_compacted_topic(tmp_path: Path) -> None:
    settings = {"log.cleaner.backoff.ms": "100"}
    with RunningBroker(tmp_path / "data", **settings) as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        config = {
            "cleanup.policy": "compact",
            "segment.bytes": "4096",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "0",
            # held back until every record has been read once (the cleaner ran mid-production on
            # a loaded machine, and the test then saw fewer than it produced)
            "min.compaction.lag.ms": "3600000",
        }
        admin.create_topics([NewTopic("latest", 1, 1, config=config)])["latest"].result(10)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0})
        for round_ in range(20):
            for key in range(10):
                producer.produce("latest", key=f"k{key}".encode(), value=f"{round_}".encode() * 20)
            producer.flush(10)
        producer.produce("latest", key=b"k0", value=None)  # a tombstone for k0
        producer.flush(10)
        before = _read_all(broker.bootstrap_servers, "latest")
        assert len(before) == 201
        release = ConfigResource(
            ConfigResource.Type.TOPIC,
            "latest",
            incremental_configs=[
                ConfigEntry(
                    "min.compaction.lag.ms", "0", incremental_operation=AlterConfigOpType.SET
                )
            ],
        )
        admin.incremental_alter_configs([release])[release].result(10)

        deadline = time.monotonic() + 30
        after = before
        while time.monotonic() < deadline and len(after) > 120:
            time.sleep(0.5)
            after = _read_all(broker.bootstrap_servers, "latest")
        assert len(after) <= 120, "the cleaner did not compact the topic"
        # Offsets are preserved: every surviving record is the one produced at that offset.
        by_offset = {o: (k, v) for o, k, v in before}
        assert all(by_offset[o] == (k, v) for o, k, v in after)
        # The latest record of every key survives, at its offset (the active segment is never cleaned).
        latest = {k: o for o, k, _ in before}
        kept = {o for o, _, _ in after}
        assert set(latest.values()) <= kept
