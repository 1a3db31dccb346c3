"""Issue 19's fuzzer frames, sent as they were found to a real in-process broker.

Each frame used to get no answer (a JoinGroup listing "range" twice: the join phase never completed)
or to close its connection (Metadata v11 naming a topic by id with a null name). Now each is answered
and the same connection goes on to serve a valid request.
"""

from __future__ import annotations

import socket
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from riverlog.broker.responses import request_schema
from riverlog.protocol.codec import decode_response, encode_request
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration

# JoinGroup v3, correlation 1, group "g-dup", protocol type "consumer", protocols "range" and "range".
DUPLICATE_PROTOCOLS_JOIN = bytes.fromhex(
    "00000040000b0003000000010001780005672d64757000002710000003e800000008636f6e73756d6572"
    "00000002000572616e676500000000000572616e676500000000"
)
# Metadata v11, correlation 0x1735: an unknown topic id with a null name, then an id named "fuzz-c".
NULL_NAME_METADATA = bytes.fromhex(
    "0000003d0003000b00001735000466757a7a0003363c27dbfdb06b4dcbd0d90703c1914b0000926d4a95053b493c"
    "84bd38d9fff022bb0766757a7a2d6300000000"
)


class Connection:
    def __init__(self, broker: RunningBroker) -> None:
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=15)

    def send_frame(self, frame: bytes, api_key: int, version: int) -> Any:
        self.sock.sendall(frame)
        return self.receive(api_key, version)

    def call(self, correlation: int, api_key: int, version: int, cls: str, **fields: Any) -> Any:
        request = getattr(request_schema(api_key, version), cls)(**fields)
        self.sock.sendall(encode_request(correlation, "regression", request))
        response = self.receive(api_key, version)
        assert response.correlation_id == correlation
        return response.body

    def receive(self, api_key: int, version: int) -> Any:
        size = struct.unpack(">i", self._read(4))[0]
        return decode_response(self._read(size), api_key, version)

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, "broker closed the connection"
            data += chunk
        return data


@pytest.fixture
def conn(broker: RunningBroker) -> Iterator[Connection]:
    connection = Connection(broker)
    yield connection
    connection.sock.close()


def metadata_v1(conn: Connection, correlation: int) -> Any:
    return conn.call(correlation, 3, 1, "MetadataRequest", topics=None)


def test_join_group_listing_a_protocol_twice_is_answered(conn: Connection) -> None:
    # FindCoordinator first, so the offsets topic exists (as in the fuzz run).
    found = conn.call(9, 10, 1, "FindCoordinatorRequest", key="g-dup", key_type=0)
    assert found.error_code == ErrorCode.none
    response = conn.send_frame(DUPLICATE_PROTOCOLS_JOIN, 11, 3)
    assert response.correlation_id == 1
    joined = response.body
    assert joined.error_code == ErrorCode.none
    assert (joined.generation_id, joined.protocol_name) == (1, "range")
    assert joined.leader == joined.member_id and len(joined.members) == 1
    assert metadata_v1(conn, 10).brokers  # the connection still serves


def test_metadata_v11_by_id_with_a_null_name_is_invalid_request(conn: Connection) -> None:
    response = conn.send_frame(NULL_NAME_METADATA, 3, 11)
    assert response.correlation_id == 0x1735
    topics = response.body.topics
    assert [(t.error_code, t.name) for t in topics] == [
        (ErrorCode.invalid_request, ""),
        (ErrorCode.invalid_request, "fuzz-c"),
    ]
    assert metadata_v1(conn, 2).brokers


def test_metadata_v12_unknown_topic_id(conn: Connection) -> None:
    unknown = uuid.uuid4()
    schema = request_schema(3, 12)
    body = conn.call(
        3,
        3,
        12,
        "MetadataRequest",
        topics=(schema.MetadataRequestTopic(topic_id=unknown, name=None),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    assert [(t.error_code, t.name, t.topic_id) for t in body.topics] == [
        (ErrorCode.unknown_topic_id, None, unknown)
    ]
