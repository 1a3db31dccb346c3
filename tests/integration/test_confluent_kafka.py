"""confluent-kafka (librdkafka) against a real riverlog broker: produce and consume every way."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from riverlog.testing.broker import RunningBroker

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce(bootstrap: str, topic: str, records: list[dict], **conf: object) -> list[tuple]:
    """Produce records, flush, return (partition, offset) per record in order; fail on any error."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    delivered: list[tuple] = [None] * len(records)  # type: ignore[list-item]
    errors: list[KafkaError] = []

    def report(index: int) -> Callable[[KafkaError | None, object], None]:
        def on_delivery(err: KafkaError | None, msg: object) -> None:
            if err is not None:
                errors.append(err)
            else:
                delivered[index] = (msg.partition(), msg.offset())  # type: ignore[attr-defined]

        return on_delivery

    for i, record in enumerate(records):
        producer.produce(topic, on_delivery=report(i), **record)
    assert producer.flush(15) == 0
    assert errors == []
    return delivered


def consume(bootstrap: str, assignments: list[TopicPartition], count: int, **conf: object) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-manual-assignment",
            "enable.auto.commit": False,
            **conf,
        }
    )
    consumer.assign(assignments)
    out = []
    deadline = time.monotonic() + 20
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        out.append(msg)
    consumer.close()
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips(broker: RunningBroker, make_topic, codec: str) -> None:
    topic = make_topic()
    records = [{"key": f"k{i}".encode(), "value": f"value-{i}".encode() * 10} for i in range(500)]
    offsets = produce(broker.bootstrap_servers, topic, records, **{"compression.type": codec})
    assert [o for _, o in offsets] == list(range(500))
    got = consume(broker.bootstrap_servers, [TopicPartition(topic, 0, 0)], 500)
    assert [(m.key(), m.value()) for m in got] == [(r["key"], r["value"]) for r in records]
    assert [m.offset() for m in got] == list(range(500))


def test_keys_headers_null_values_and_timestamps(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    records = [
        {
            "key": b"a",
            "value": b"1",
            "headers": [("h1", b"v1"), ("h2", None)],
            "timestamp": 1_600_000_000_000,
        },
        {"key": None, "value": None, "timestamp": 1_600_000_001_000},
        {"key": b"c", "value": b"", "headers": {"x": b"y"}, "timestamp": 1_600_000_002_000},
    ]
    produce(broker.bootstrap_servers, topic, records)
    got = consume(broker.bootstrap_servers, [TopicPartition(topic, 0, 0)], 3)
    assert [m.key() for m in got] == [b"a", None, b"c"]
    assert [m.value() for m in got] == [b"1", None, b""]
    assert got[0].headers() == [("h1", b"v1"), ("h2", None)]
    assert got[2].headers() == [("x", b"y")]
    assert [m.timestamp()[1] for m in got] == [
        1_600_000_000_000,
        1_600_000_001_000,
        1_600_000_002_000,
    ]
    assert {m.timestamp()[0] for m in got} == {1}  # TIMESTAMP_CREATE_TIME


def test_log_append_time_topic(broker: RunningBroker, make_topic) -> None:
    topic = make_topic(config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce(broker.bootstrap_servers, topic, [{"value": b"x", "timestamp": 1000}])
    (msg,) = consume(broker.bootstrap_servers, [TopicPartition(topic, 0, 0)], 1)
    ts_type, ts = msg.timestamp()
    assert ts_type == 2  # TIMESTAMP_LOG_APPEND_TIME
    assert before - 1000 <= ts <= int(time.time() * 1000) + 1000


def test_consume_from_offset_and_by_timestamp(broker: RunningBroker, make_topic) -> None:
    topic = make_topic(partitions=3)
    records = [
        {"value": f"v{i}".encode(), "partition": 1, "timestamp": 1_700_000_000_000 + i * 1000}
        for i in range(20)
    ]
    produce(broker.bootstrap_servers, topic, records)
    got = consume(broker.bootstrap_servers, [TopicPartition(topic, 1, 7)], 13)
    assert [m.value() for m in got] == [f"v{i}".encode() for i in range(7, 20)]
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "ts",
            "enable.auto.commit": False,
        }
    )
    (found,) = consumer.offsets_for_times([TopicPartition(topic, 1, 1_700_000_010_500)], timeout=10)
    assert found.offset == 11
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 1), timeout=10)
    assert (low, high) == (0, 20)
    (beyond,) = consumer.offsets_for_times(
        [TopicPartition(topic, 1, 1_800_000_000_000)], timeout=10
    )
    assert beyond.offset == -1
    consumer.close()


def test_idempotent_producer(broker: RunningBroker, make_topic) -> None:
    topic = make_topic(partitions=2)
    records = [{"key": f"{i % 7}".encode(), "value": f"{i}".encode()} for i in range(2000)]
    offsets = produce(
        broker.bootstrap_servers,
        topic,
        records,
        **{"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5},
    )
    per_partition: dict[int, list[int]] = {}
    for p, o in offsets:
        per_partition.setdefault(p, []).append(o)
    for p, seen in per_partition.items():
        assert sorted(seen) == list(range(len(seen))), p
    total = sum(len(v) for v in per_partition.values())
    assert total == 2000


def test_acks_zero_and_all(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    produce(broker.bootstrap_servers, topic, [{"value": b"zero"}] * 10, acks=0)
    produce(broker.bootstrap_servers, topic, [{"value": b"all"}] * 10, acks="all")
    got = consume(broker.bootstrap_servers, [TopicPartition(topic, 0, 0)], 20)
    assert sorted(m.value() for m in got) == [b"all"] * 10 + [b"zero"] * 10


def test_restart_between_produce_and_consume(fresh_broker: RunningBroker) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": fresh_broker.bootstrap_servers})
    admin.create_topics([NewTopic("durable", 2, 1)])["durable"].result(10)
    records = [{"key": f"{i}".encode(), "value": f"{i}".encode() * 50} for i in range(3000)]
    produce(fresh_broker.bootstrap_servers, "durable", records, **{"enable.idempotence": True})
    fresh_broker.restart()
    got = consume(
        fresh_broker.bootstrap_servers,
        [TopicPartition("durable", 0, 0), TopicPartition("durable", 1, 0)],
        3000,
    )
    assert sorted(int(m.key()) for m in got) == list(range(3000))
    # The broker keeps appending after the restart, at the right offsets.
    again = produce(
        fresh_broker.bootstrap_servers, "durable", [{"value": b"after", "partition": 0}]
    )
    ends = {p: max(m.offset() for m in got if m.partition() == p) for p in (0, 1)}
    assert again == [(0, ends[0] + 1)]


def test_long_poll_wakes_on_produce(broker: RunningBroker, make_topic) -> None:
    topic = make_topic()
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "lp",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 20000,
            "fetch.min.bytes": 1,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.poll(1.0)
    started = time.monotonic()
    produce(broker.bootstrap_servers, topic, [{"value": b"wake"}])
    msg = None
    while msg is None and time.monotonic() - started < 10:
        msg = consumer.poll(0.2)
    waited = time.monotonic() - started
    consumer.close()
    assert msg is not None and msg.value() == b"wake"
    # Delivered well inside the 20 s max wait: the append woke the waiting fetch.
    assert waited < 10
