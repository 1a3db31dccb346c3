"""Bad input closes one connection with a log line; the broker and every other connection carry on."""

from __future__ import annotations

import socket
import struct

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from riverlog.testing.broker import RunningBroker


def _send_raw(port: int, payload: bytes) -> bytes:
    """Send bytes on a fresh connection; return what the broker answered before closing (or b"")."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def _frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def _api_versions_request(version: int, correlation_id: int = 7) -> bytes:
    return _frame(
        struct.pack(">hhih", 18, version, correlation_id, 1)
        + b"x"
        + (b"\x00\x00\x00" if version >= 3 else b"")
    )


BAD_INPUTS = {
    "garbage": b"\xde\xad\xbe\xef" * 64,
    "absurd length prefix": struct.pack(">i", 2_000_000_000) + b"\x00" * 16,
    "negative length prefix": struct.pack(">i", -5) + b"\x00" * 16,
    "truncated header": _frame(b"\x00\x03"),
    "unknown api key": _frame(struct.pack(">hhih", 999, 0, 1, -1)),
    "unsupported produce version": _frame(struct.pack(">hhih", 0, 1, 1, -1)),
    "metadata with garbage body": _frame(struct.pack(">hhih", 3, 12, 1, -1) + b"\xff" * 40),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_closes_only_that_connection(
    broker: RunningBroker, make_topic, name: str
) -> None:
    topic = make_topic()
    # A healthy client connected before the bad one keeps working afterwards.
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(topic, b"before")
    assert producer.flush(10) == 0
    answer = _send_raw(broker.port, BAD_INPUTS[name])
    assert answer == b"", f"broker answered {answer!r} to {name}"
    producer.produce(topic, b"after")
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "bad-input",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    for _ in range(40):
        msg = consumer.poll(0.25)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
        if len(values) == 2:
            break
    consumer.close()
    assert values == [b"before", b"after"]


def test_unknown_api_versions_version_gets_v0_error_answer(broker: RunningBroker) -> None:
    answer = _send_raw(broker.port, _api_versions_request(version=99))
    size, correlation_id, error_code, count = struct.unpack(">iihi", answer[:14])
    assert size == len(answer) - 4
    assert correlation_id == 7
    assert error_code == 35  # UNSUPPORTED_VERSION
    ranges = {struct.unpack(">hhh", answer[14 + i * 6 : 20 + i * 6])[0] for i in range(count)}
    assert {0, 1, 3, 18} <= ranges


def test_pipelined_requests_are_answered_in_order(broker: RunningBroker) -> None:
    payload = b"".join(_api_versions_request(version=2, correlation_id=i) for i in range(50))
    answer = _send_raw(broker.port, payload)
    ids = []
    pos = 0
    while pos < len(answer):
        (size,) = struct.unpack(">i", answer[pos : pos + 4])
        ids.append(struct.unpack(">i", answer[pos + 4 : pos + 8])[0])
        pos += 4 + size
    assert ids == list(range(50))
