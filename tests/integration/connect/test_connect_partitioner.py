"""A source task's keyed records go to the partition Java's default partitioner picks (murmur2 of the
key bytes), as Kafka Connect's producer does: data moved by Connect co-partitions with Kafka Streams
apps and with Java producers. (riverlog's producer used librdkafka's default, crc32, before.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from riverlog.connect.standalone import ConnectStandalone
from riverlog.streams.runtime.iq_metadata import murmur2_partition
from riverlog.testing.broker import RunningBroker


def test_keyed_source_records_land_on_the_murmur2_partition(
    broker: RunningBroker, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    topic = make_topic(partitions=4)
    source = tmp_path / "in.txt"
    source.write_text("".join(f"line-{i}\n" for i in range(200)))
    (tmp_path / "source.properties").write_text(
        "\n".join(
            [
                "name=keyed-source",
                "connector.class=FileStreamSource",
                f"file={source}",
                f"topic={topic}",
                # the line becomes the key: {"line": ...} -> key {"line": ...} -> key "line-N"
                "transforms=hoist,tokey,extract",
                "transforms.hoist.type=org.apache.kafka.connect.transforms.HoistField$Value",
                "transforms.hoist.field=line",
                "transforms.tokey.type=org.apache.kafka.connect.transforms.ValueToKey",
                "transforms.tokey.fields=line",
                "transforms.extract.type=org.apache.kafka.connect.transforms.ExtractField$Key",
                "transforms.extract.field=line",
            ]
        )
        + "\n"
    )
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(tmp_path / "connect.offsets"),
        "offset.flush.interval.ms": "300",
        "listeners": "http://127.0.0.1:0",
    }
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap_servers, "group.id": "partitioner-check"}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(4)])
    placed: dict[bytes, int] = {}
    with ConnectStandalone(props, [tmp_path / "source.properties"]):
        deadline = time.monotonic() + 60
        while len(placed) < 200 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                key = msg.key()
                assert key is not None
                placed[key] = msg.partition()
    consumer.close()
    assert len(placed) == 200
    assert placed == {key: murmur2_partition(key, 4) for key in placed}
    assert len(set(placed.values())) == 4  # spread over every partition, not all on one
