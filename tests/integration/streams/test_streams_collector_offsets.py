"""The record collector's changelog end offsets on a real broker: asked after a flush in one
ListOffsets request from an admin client, applied when the answers are in (without waiting, or
waiting before tasks close), only ever moving forward."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from riverlog.streams.records import OutputRecord, TopicPartition
from riverlog.streams.runtime.record_collector import RecordCollector
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


def test_changelog_end_offsets_are_collected_after_a_flush(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    changelog = make_topic(partitions=2, prefix="app-store-changelog")
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 100})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    collector = RecordCollector(producer, lambda topic: topic == changelog)
    records = [OutputRecord(changelog, i % 2, b"k%d" % i, b"v", 1_000 + i, []) for i in range(7)]
    collector.send_all(records)
    collector.flush(30)
    collector.request_changelog_offsets(admin, read_committed=False)
    assert collector.changelog_offsets == {}  # asked, not waited for
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(collector.changelog_offsets) < 2:
        collector.collect_changelog_offsets(None)  # what has arrived, never blocking
        time.sleep(0.05)
    assert collector.changelog_offsets == {
        TopicPartition(changelog, 0): 4,
        TopicPartition(changelog, 1): 3,
    }
    # only partitions written since the last request are asked again; waiting gets every answer
    collector.send_all([OutputRecord(changelog, 1, b"k", b"v", 2_000, [])])
    collector.flush(30)
    collector.request_changelog_offsets(admin, read_committed=False)
    collector.collect_changelog_offsets(30.0)
    assert collector.changelog_offsets == {
        TopicPartition(changelog, 0): 4,
        TopicPartition(changelog, 1): 4,
    }
    collector.request_changelog_offsets(admin, read_committed=False)  # nothing written: no request
    collector.collect_changelog_offsets(30.0)
    assert collector.changelog_offsets[TopicPartition(changelog, 1)] == 4
