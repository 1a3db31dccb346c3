"""Restoration progress on a real broker: after its local state is wiped, an application restores its
count store from the changelog, and the StateRestoreListener it set hears Kafka Streams' calls — start
(from offset 0 to the changelog's end), batches adding up to the records restored, end with the total
— while RestoreProgress draws the bars; the listener can only be set before start()."""

from __future__ import annotations

import io
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from rich.console import Console

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    Produced,
    RestoreProgress,
    Serdes,
    StateRestoreListener,
    StreamsBuilder,
)
from riverlog.streams.records import TopicPartition
from riverlog.streams.runtime.kafka_streams import IllegalStateException, State
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


def topology(source: str, sink: str) -> Any:
    builder = StreamsBuilder()
    (
        builder.stream(source, Consumed.with_(Serdes.String(), Serdes.String()))
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("words"))
        .to_stream()
        .to(sink, Produced.with_(Serdes.String(), Serdes.Long()))
    )
    return builder.build()


def read_counts(broker: RunningBroker, topic: str, want: dict[str, int]) -> dict[str, int]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    last: dict[str, int] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and last != want:
            for message in consumer.consume(500, 0.3):
                if not message.error():
                    last[message.key().decode()] = struct.unpack(">q", message.value())[0]
    finally:
        consumer.close()
    return last


class Recorder(StateRestoreListener):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def on_restore_start(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        starting_offset: int,
        ending_offset: int,
    ) -> None:
        with self.lock:
            self.calls.append(
                ("start", topic_partition, store_name, starting_offset, ending_offset)
            )

    def on_batch_restored(
        self,
        topic_partition: TopicPartition,
        store_name: str,
        batch_end_offset: int,
        num_restored: int,
    ) -> None:
        with self.lock:
            self.calls.append(
                ("batch", topic_partition, store_name, batch_end_offset, num_restored)
            )

    def on_restore_end(
        self, topic_partition: TopicPartition, store_name: str, total_restored: int
    ) -> None:
        with self.lock:
            self.calls.append(("end", topic_partition, store_name, total_restored))


class Both(Recorder):
    """Records the calls and passes them to RestoreProgress (rendering into a string)."""

    def __init__(self, progress: RestoreProgress) -> None:
        super().__init__()
        self.progress = progress

    def on_restore_start(self, *args: Any) -> None:
        super().on_restore_start(*args)
        self.progress.on_restore_start(*args)

    def on_batch_restored(self, *args: Any) -> None:
        super().on_batch_restored(*args)
        self.progress.on_batch_restored(*args)

    def on_restore_end(self, *args: Any) -> None:
        super().on_restore_end(*args)
        self.progress.on_restore_end(*args)


def test_restoration_is_reported_to_the_listener(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source, sink = make_topic(partitions=1, prefix="rin"), make_topic(partitions=1, prefix="rout")
    app_id = f"restore-{uuid.uuid4().hex[:6]}"
    config = {
        "application.id": app_id,
        "bootstrap.servers": broker.bootstrap_servers,
        "state.dir": str(tmp_path),
        "commit.interval.ms": 100,
        "statestore.cache.max.bytes": 0,
    }
    words = [f"w{i % 40}" for i in range(300)]
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for word in words:
        producer.produce(source, key=b"k", value=word.encode())
    assert producer.flush(30) == 0
    first = KafkaStreams(topology(source, sink), config)
    first.start()
    want = dict(Counter(words))
    assert read_counts(broker, sink, want) == want
    assert first.close(timedelta(seconds=30))
    first.clean_up()  # the local store is gone: the next start restores it from the changelog

    output = io.StringIO()
    listener = Both(RestoreProgress(Console(file=output, force_terminal=False, width=120)))
    again = KafkaStreams(topology(source, sink), config)
    again.set_global_state_restore_listener(listener)
    try:
        again.start()
        assert again.wait_for_state(State.RUNNING, 60)
        with pytest.raises(IllegalStateException):
            again.set_global_state_restore_listener(Recorder())
        producer.produce(source, key=b"k", value=b"w0")
        assert producer.flush(30) == 0
        want["w0"] += 1
        assert read_counts(broker, sink, want) == want  # the restored counts carried on
    finally:
        assert again.close(timedelta(seconds=30))

    changelog = TopicPartition(f"{app_id}-words-changelog", 0)
    calls = [c for c in listener.calls if c[1] == changelog]
    assert calls[0][:4] == ("start", changelog, "words", 0)
    ending = calls[0][4]
    assert ending >= 300  # one changelog record per count update
    assert calls[-1][0] == "end"
    batches = [c for c in calls if c[0] == "batch"]
    total = calls[-1][3]
    assert batches and sum(c[4] for c in batches) == total
    assert 40 <= total <= ending  # compaction may already have dropped old counts
    assert batches[-1][3] == ending - 1  # the last batch ends at the changelog's last record
    rendered = output.getvalue()
    assert "restoring words [0]" in rendered and "100%" in rendered
