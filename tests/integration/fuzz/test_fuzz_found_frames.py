"""Frames the socket fuzzer found, sent to a real broker as they were found.

A Produce whose batch has the right CRC but a record with a key length of -40 was stored, and no
confluent-kafka consumer could read the partition past it. Now it is refused with INVALID_RECORD
(riverlog.protocol.record_framing) and the partition stays readable.

WriteTxnMarkers v1 with a null `markers` array (a compact array count of 0): kio's native reader
read it as None and the handler failed iterating it (an ERROR "request handler failed" with a
TypeError, then the connection closed). Now it is refused as malformed before any handler runs, as
Kafka refuses a non-nullable field serialized as null; the broker goes on serving other connections.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kio.schema.errors import ErrorCode

from riverlog.testing.broker import RunningBroker
from riverlog.testing.raw_produce import produce_batch as produce_raw

pytestmark = pytest.mark.integration

# size, api 27 v1, correlation 7, client id "fz", empty header tags, markers null, no body tags
NULL_MARKERS = struct.pack(">ihhih", 15, 27, 1, 7, 2) + b"fz" + b"\x00" + b"\x00\x00"
# ApiVersions v3 with client software name/version "a"/"1"
API_VERSIONS = struct.pack(">ihhih", 18, 18, 3, 8, 2) + b"fz\x00" + b"\x02a\x021\x00"


def test_null_markers_are_refused_before_the_handler(
    broker: RunningBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="riverlog.broker")
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as bad:
        bad.sendall(NULL_MARKERS)
        assert bad.recv(4) == b""  # closed: a malformed request, as Kafka does
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage() for r in failures]
    assert any("non-nullable array" in r.getMessage() for r in caplog.records)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as good:
        good.sendall(API_VERSIONS)
        size = struct.unpack(">i", good.recv(4, socket.MSG_WAITALL))[0]
        answer = good.recv(size, socket.MSG_WAITALL)
        assert struct.unpack(">ih", answer[:6]) == (8, 0)  # correlation 8, error none


# A batch the socket fuzzer got stored (CRC right, one record whose key length is -40): Kafka reads
# any negative length as null, but confluent-kafka consumers stopped at it for good.
NEGATIVE_KEY_LENGTH_BATCH = bytes.fromhex(
    "00000000000000270000003c0000000002e110adff00000000000000000000000000000000000000000000"
    "ffffffffffffffffffffffffffff00000001140000004f0865bfcbf800"
)


def test_a_record_length_below_minus_one_is_refused_and_the_partition_stays_readable(
    broker: RunningBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(topic, b"before")
    producer.flush(10)
    answer = produce_raw(broker.port, topic, NEGATIVE_KEY_LENGTH_BATCH)
    assert answer.error_code == ErrorCode.invalid_record, answer
    producer.produce(topic, b"after")
    producer.flush(10)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    try:
        while len(values) < 2:
            message = consumer.poll(10)
            assert message is not None, values
            assert message.error() is None, message.error()
            values.append(message.value())
    finally:
        consumer.close()
    assert values == [b"before", b"after"]
