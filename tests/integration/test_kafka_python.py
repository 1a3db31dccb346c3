"""kafka-python 3 (idempotent by default, ApiVersions v4) against a real riverlog broker."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from riverlog.testing.broker import RunningBroker


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_every_codec(broker: RunningBroker, make_topic, codec: str | None) -> None:
    topic = make_topic(partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, compression_type=codec)
    futures = [
        producer.send(
            topic, key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("n", str(i).encode())]
        )
        for i in range(300)
    ]
    metas = [f.get(timeout=15) for f in futures]
    producer.close()
    assert sum(1 for m in metas if m.offset >= 0) == 300
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        enable_auto_commit=False,
    )
    consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    got = list(consumer)
    consumer.close()
    assert sorted(m.value for m in got) == sorted(f"v{i}".encode() for i in range(300))
    assert all(dict(m.headers)["n"] == m.value[1:] for m in got)


def test_null_values_and_seek(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    for i in range(10):
        producer.send(
            topic, key=b"k", value=None if i % 2 else f"{i}".encode(), timestamp_ms=1_000_000 + i
        )
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, consumer_timeout_ms=3000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 4)
    got = list(consumer)
    assert [m.offset for m in got] == list(range(4, 10))
    assert [m.value for m in got] == [b"4", None, b"6", None, b"8", None]
    assert [m.timestamp for m in got] == [1_000_000 + i for i in range(4, 10)]
    found = consumer.offsets_for_times({tp: 1_000_007})
    assert found[tp].offset == 7
    assert consumer.beginning_offsets([tp]) == {tp: 0}
    assert consumer.end_offsets([tp]) == {tp: 10}
    consumer.close()
