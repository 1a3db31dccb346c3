"""Corrupt record batches against a real broker (issue 19, bug 2).

Each batch below passes its CRC check but holds records no reader can decode. Kafka's LogValidator
refuses them; so must we: the partition's error code is CORRUPT_MESSAGE (2) or INVALID_RECORD (87),
nothing is stored, the connection stays usable, and confluent-kafka consumers read the partition to
its end. A batch that an older version stored anyway must not cost ListOffsets its connection.
"""

from __future__ import annotations

import datetime
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from crc32c import crc32c
from kio.schema.errors import ErrorCode

from riverlog.broker.replication.peer import read_exactly
from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.protocol.compression import GZIP, LZ4, SNAPPY, ZSTD, compress
from riverlog.protocol.records import BATCH_HEADER_SIZE, build_batch
from riverlog.storage import LogConfig, PartitionLog
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

# The issue's reproducer: Produce v9 to topic "t", partition 0, one gzip batch of garbage.
REPRODUCER = bytes.fromhex(
    "00000068000000090000000100017800000001000003e802027402000000004a00000000000000000000003d"
    "ffffffff02f81d8765000100000000000001a251bb5215000001a251bb5215ffffffffffffffffffffffff"
    "ffff000000011f8b08006761726261676521000000"
)
PRODUCE_VERSION = 9


def now_ms() -> int:
    return int(time.time() * 1000)


def good_batch(count: int = 2, compression: int = 0, key: bytes | None = b"k") -> bytes:
    ts = now_ms()
    return build_batch(
        [(key, b"value-%d" % i, (), ts) for i in range(count)], compression=compression
    )


def with_section(template: bytes, section: bytes, attributes: int | None = None) -> bytes:
    """`template`'s header over `section`, with batch length and CRC made right."""
    out = bytearray(template[:BATCH_HEADER_SIZE] + section)
    struct.pack_into(">i", out, 8, len(out) - 12)
    if attributes is not None:
        struct.pack_into(">h", out, 21, attributes)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def records_of(count: int) -> bytes:
    return good_batch(count)[BATCH_HEADER_SIZE:]


# name: (batch, the error code Kafka's validator answers with)
VARIANTS: dict[str, tuple[Callable[[], bytes], int]] = {
    "gzip garbage": (lambda: with_section(good_batch(), b"\x1f\x8b\x08\x00junk", GZIP), 2),
    "snappy garbage": (lambda: with_section(good_batch(), b"\xff" * 16, SNAPPY), 2),
    "lz4 garbage": (lambda: with_section(good_batch(), b"garbage!" * 4, LZ4), 2),
    "zstd garbage": (lambda: with_section(good_batch(), b"garbage!" * 4, ZSTD), 2),
    "codec id 5": (lambda: with_section(good_batch(), records_of(2), 5), 2),
    "codec id 6": (lambda: with_section(good_batch(), records_of(2), 6), 2),
    "codec id 7": (lambda: with_section(good_batch(), records_of(2), 7), 2),
    "fewer records than counted": (lambda: with_section(good_batch(3), records_of(2)), 87),
    "bytes after the last record": (lambda: with_section(good_batch(), records_of(2) + b"\0"), 87),
    "record length past the batch": (
        lambda: with_section(good_batch(1), b"\x7e" + records_of(1)[1:]),
        87,
    ),
    "offset deltas 0, 0": (
        lambda: with_section(good_batch(2), records_of(1) + records_of(1)),
        87,
    ),
    "lz4 of malformed records": (
        lambda: with_section(good_batch(2), compress(LZ4, records_of(1)), LZ4),
        87,
    ),
}


class Connection:
    """One plain socket: raw frames or kio requests in, decoded response bodies out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.correlation_id = 100

    def raw(self, frame: bytes, api_key: int, version: int) -> Any:
        self.sock.sendall(frame)
        (size,) = struct.unpack(">i", read_exactly(self.sock, 4))
        return decode_response(read_exactly(self.sock, size), api_key, version).body

    def call(self, request: Any) -> Any:
        self.correlation_id += 1
        frame = encode_request(self.correlation_id, "validation", request)
        return self.raw(frame, request.__api_key__, request.__version__)

    def close(self) -> None:
        self.sock.close()


def produce_request(topic: str, records: bytes, acks: int = 1) -> Any:
    schema = request_schema(0, PRODUCE_VERSION)
    return schema.ProduceRequest(
        transactional_id=None,
        acks=acks,
        timeout=datetime.timedelta(seconds=10),
        topic_data=(
            schema.TopicProduceData(
                name=topic,
                partition_data=(schema.PartitionProduceData(index=0, records=records),),
            ),
        ),
    )


def list_offsets_request(topic: str, timestamp: int) -> Any:
    schema = request_schema(2, 7)
    return schema.ListOffsetsRequest(
        replica_id=-1,
        isolation_level=0,
        topics=(
            schema.ListOffsetsTopic(
                name=topic,
                partitions=(
                    schema.ListOffsetsPartition(
                        partition_index=0, current_leader_epoch=-1, timestamp=timestamp
                    ),
                ),
            ),
        ),
    )


def api_versions_ok(conn: Connection) -> bool:
    schema = request_schema(18, 3)
    request = schema.ApiVersionsRequest(client_software_name="v", client_software_version="1")
    return bool(conn.call(request).error_code == ErrorCode.none)


def partition_answer(response: Any) -> Any:
    (topic,) = response.responses
    (answer,) = topic.partition_responses
    return answer


def create_topic(bootstrap: str, name: str, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=config or {})])[name].result(timeout=15)


def end_offset(bootstrap: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    tp = TopicPartition(topic, 0)
    return int(admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(timeout=15).offset)


def read_to_end(bootstrap: str, topic: str) -> list[bytes]:
    """Every value in the partition, read by a confluent-kafka consumer until end of partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(200):
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == -191:  # _PARTITION_EOF
                    return values
                raise AssertionError(f"consumer error: {message.error()}")
            values.append(bytes(message.value() or b""))
        raise AssertionError(f"no end of partition after {len(values)} records")
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def topic(broker: RunningBroker) -> str:
    name = f"validation-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap_servers, name)
    return name


@pytest.fixture
def conn(broker: RunningBroker) -> Iterator[Connection]:
    connection = Connection(broker.port)
    yield connection
    connection.close()


def test_the_issue_reproducer_is_refused(broker: RunningBroker, conn: Connection) -> None:
    create_topic(broker.bootstrap_servers, "t")
    answer = partition_answer(conn.raw(REPRODUCER, 0, PRODUCE_VERSION))
    assert answer.error_code == ErrorCode.corrupt_message
    assert answer.base_offset == -1
    assert api_versions_ok(conn)  # the same connection carries on
    assert end_offset(broker.bootstrap_servers, "t") == 0


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_corrupt_batches_are_refused_and_the_connection_carries_on(
    broker: RunningBroker, conn: Connection, topic: str, name: str
) -> None:
    make, expected = VARIANTS[name]
    before = end_offset(broker.bootstrap_servers, topic)
    answer = partition_answer(conn.call(produce_request(topic, make())))
    assert answer.error_code == ErrorCode(expected), answer.error_message
    assert answer.error_message  # says what was wrong
    # Nothing stored; a valid batch on the same connection is appended after it.
    assert end_offset(broker.bootstrap_servers, topic) == before
    good = partition_answer(conn.call(produce_request(topic, good_batch(2))))
    assert (good.error_code, good.base_offset) == (ErrorCode.none, before)


def test_record_errors_name_the_refused_records(broker: RunningBroker, conn: Connection) -> None:
    compacted = f"compacted-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap_servers, compacted, {"cleanup.policy": "compact"})
    ts = now_ms()
    no_keys = build_batch([(b"k", b"v", (), ts), (None, b"v", (), ts), (None, b"v", (), ts)])
    answer = partition_answer(conn.call(produce_request(compacted, no_keys)))
    assert answer.error_code == ErrorCode.invalid_record
    assert [e.batch_index for e in answer.record_errors] == [1, 2]
    assert "without key" in (answer.record_errors[0].batch_index_error_message or "")

    windowed = f"windowed-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap_servers, windowed, {"message.timestamp.before.max.ms": "60000"})
    stale = build_batch([(None, b"a", (), ts), (None, b"b", (), ts - 3_600_000)])
    answer = partition_answer(conn.call(produce_request(windowed, stale)))
    assert answer.error_code == ErrorCode.invalid_timestamp
    assert [e.batch_index for e in answer.record_errors] == [1]
    assert end_offset(broker.bootstrap_servers, windowed) == 0


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_consumers_read_the_partition_to_its_end(
    broker: RunningBroker, conn: Connection, codec: str
) -> None:
    name = f"readable-{codec}-{uuid.uuid4().hex[:6]}"
    create_topic(broker.bootstrap_servers, name)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "compression.type": codec})
    expected = []
    for round_ in range(3):
        # Garbage between real clients' batches: every variant, refused each time.
        for make, _ in VARIANTS.values():
            answer = partition_answer(conn.call(produce_request(name, make())))
            assert answer.error_code != ErrorCode.none
        for i in range(50):
            value = f"{codec}-{round_}-{i}".encode()
            producer.produce(name, value=value, partition=0)
            expected.append(value)
        assert producer.flush(15) == 0
    assert read_to_end(broker.bootstrap_servers, name) == expected


def test_list_offsets_over_a_stored_corrupt_batch_keeps_the_connection(tmp_path: Path) -> None:
    """A batch stored by an older version (written here through the follower path, which Kafka
    does not validate either) must not close ListOffsets connections."""
    data = tmp_path / "data"
    name = "legacy"
    ts = now_ms()
    with RunningBroker(data) as running:
        create_topic(running.bootstrap_servers, name)
        producer = Producer({"bootstrap.servers": running.bootstrap_servers})
        for i in range(3):
            producer.produce(name, value=b"before-%d" % i, partition=0, timestamp=ts + i)
        assert producer.flush(15) == 0
    # The broker is stopped: append a batch of garbage (CRC right) and a good one after it.
    partition_dir = next(p for p in data.rglob(f"{name}-0") if p.is_dir())
    log = PartitionLog.open(partition_dir, LogConfig())
    corrupt = bytearray(
        with_section(build_batch([(None, b"x", (), ts + 100)] * 2), b"garbage!" * 4, LZ4)
    )
    corrupt[0:8] = log.log_end_offset.to_bytes(8, "big")
    log.append_as_follower(bytes(corrupt))
    after = bytearray(build_batch([(None, b"after", (), ts + 200)]))
    after[0:8] = log.log_end_offset.to_bytes(8, "big")
    log.append_as_follower(bytes(after))
    log.close()

    with RunningBroker(data) as running:
        conn = Connection(running.port)
        try:
            found = conn.call(list_offsets_request(name, ts + 1)).topics[0].partitions[0]
            assert (found.error_code, found.offset) == (ErrorCode.none, 1)
            hit = conn.call(list_offsets_request(name, ts + 100)).topics[0].partitions[0]
            assert hit.error_code == ErrorCode.corrupt_message
            assert api_versions_ok(conn)
        finally:
            conn.close()
        # confluent-kafka's admin gets the partition's error, not a hang or a closed connection.
        admin = AdminClient({"bootstrap.servers": running.bootstrap_servers})
        tp = TopicPartition(name, 0)
        with pytest.raises(KafkaException, match="INVALID_MSG"):  # librdkafka names 2 so
            admin.list_offsets({tp: OffsetSpec.for_timestamp(ts + 100)})[tp].result(timeout=15)
        earlier = admin.list_offsets({tp: OffsetSpec.for_timestamp(ts + 2)})[tp].result(15)
        assert earlier.offset == 2
