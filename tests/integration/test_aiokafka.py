"""aiokafka (mostly non-flexible protocol versions) against a real riverlog broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from riverlog.testing.broker import RunningBroker


async def _round_trip(bootstrap: str, topic: str, codec: str | None, count: int) -> list:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=codec, enable_idempotence=True
    )
    await producer.start()
    try:
        batch = [
            producer.send(topic, key=f"{i}".encode(), value=f"value {i}".encode())
            for i in range(count)
        ]
        metas = await asyncio.gather(*[await b for b in batch])
    finally:
        await producer.stop()
    assert sorted(m.offset for m in metas) == list(range(count))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        got = []
        while len(got) < count:
            batches = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), 15)
            got.extend(batches.get(tp, []))
        ends = await consumer.end_offsets([tp])
        assert ends[tp] == count
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_aiokafka_round_trip(broker: RunningBroker, make_topic, codec: str | None) -> None:
    topic = make_topic()
    got = asyncio.run(_round_trip(broker.bootstrap_servers, topic, codec, 200))
    assert [m.value for m in got] == [f"value {i}".encode() for i in range(200)]
    assert [m.offset for m in got] == list(range(200))
