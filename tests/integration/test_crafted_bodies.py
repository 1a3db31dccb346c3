"""A crafted request body closes its own connection; the broker process lives on and answers others.

Each frame below made kio's native reader abort the broker process (SIGABRT: an array count of
2**35 - 2 items, for which it asked the allocator for 256 GiB before reading any). The broker runs
in its own process, so a regression fails these tests instead of killing pytest.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest

from riverlog.protocol.codec import decode_response, encode_request
from riverlog.testing.broker_process import BrokerProcess

pytestmark = pytest.mark.integration

COMPACT_HUGE = b"\xff\xff\xff\xff\x7f"  # UNSIGNED_VARINT 2**35 - 1: a COMPACT_ARRAY of 2**35 - 2
FETCH_V12_FIXED = struct.pack(">iiiibii", -1, 500, 1, 52_428_800, 0, 0, -1)


def flexible_frame(api_key: int, version: int, body: bytes) -> bytes:
    """A request frame with its size prefix: header v2 (client id "crafted", no tags), then body."""
    frame = struct.pack(">hhih", api_key, version, 99, 7) + b"crafted" + b"\x00" + body
    return struct.pack(">i", len(frame)) + frame


# name: (frame, the request class the broker's log line names)
CRAFTED = {
    "metadata v12, topics": (flexible_frame(3, 12, COMPACT_HUGE), "MetadataRequest"),
    "fetch v12, topics": (flexible_frame(1, 12, FETCH_V12_FIXED + COMPACT_HUGE), "FetchRequest"),
    "fetch v12, partitions of the first topic": (
        flexible_frame(1, 12, FETCH_V12_FIXED + b"\x02\x02t" + COMPACT_HUGE),
        "FetchRequest",
    ),
    # Produce v13 is past the specialised decoder's range (3-12), so kio reads it.
    "produce v13, topics": (
        flexible_frame(0, 13, b"\x00" + struct.pack(">hi", -1, 30_000) + COMPACT_HUGE),
        "ProduceRequest",
    ),
    # An api the broker does not serve: the body is decoded before the api key is looked up.
    "broker heartbeat v1, tagged offline_log_dirs": (
        flexible_frame(
            63, 1, struct.pack(">iqq??", 1, 1, 0, False, False) + b"\x01\x00\x05" + COMPACT_HUGE
        ),
        "BrokerHeartbeatRequest",
    ),
}


class Connection:
    """A plain socket to the broker: kio requests in, decoded response bodies out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.correlation_id = 0

    def call(self, request: Any) -> Any:
        self.correlation_id += 1
        self.sock.sendall(encode_request(self.correlation_id, "healthy", request))
        (size,) = struct.unpack(">i", self._read(4))
        response = decode_response(self._read(size), request.__api_key__, request.__version__)
        assert response.correlation_id == self.correlation_id
        return response.body

    def send_and_read_to_close(self, data: bytes) -> bytes:
        """Send raw bytes; everything the broker answers until it closes the connection."""
        self.sock.sendall(data)
        chunks = []
        try:
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def broker_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(0, tmp_path_factory.mktemp("crafted") / "data", zookeeper=None)
    process.start()
    yield process
    process.stop()


def api_versions() -> ApiVersionsRequest:
    return ApiVersionsRequest(client_software_name="healthy", client_software_version="1")


def metadata() -> MetadataRequest:
    return MetadataRequest(
        topics=None, allow_auto_topic_creation=False, include_topic_authorized_operations=False
    )


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_body_closes_only_its_connection(broker_process: BrokerProcess, name: str) -> None:
    healthy = Connection(broker_process.port)
    try:
        assert healthy.call(api_versions()).error_code == ErrorCode.none
        crafted = Connection(broker_process.port)
        try:
            answer = crafted.send_and_read_to_close(CRAFTED[name][0])
        finally:
            crafted.close()
        assert answer == b"", f"broker answered {answer!r}"
        broker_process.check_alive()
        # The connection opened before carries on, and a new one is served.
        assert [b.node_id for b in healthy.call(metadata()).brokers] == [0]
    finally:
        healthy.close()
    fresh = Connection(broker_process.port)
    try:
        assert fresh.call(api_versions()).error_code == ErrorCode.none
    finally:
        fresh.close()
    broker_process.check_alive()
    closing = [
        line
        for line in broker_process.log_path.read_text().splitlines()
        if "closing connection" in line
    ]
    assert f"malformed request: malformed {CRAFTED[name][1]}" in closing[-1]
    assert "items exceeds the 0 bytes left" in closing[-1]
