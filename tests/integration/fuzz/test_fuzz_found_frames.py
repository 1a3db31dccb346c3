"""Frames the socket fuzzer found, sent to a real broker as they were found.

WriteTxnMarkers v1 with a null `markers` array (a compact array count of 0): kio's native reader
read it as None and the handler failed iterating it (an ERROR "request handler failed" with a
TypeError, then the connection closed). Now it is refused as malformed before any handler runs, as
Kafka refuses a non-nullable field serialized as null; the broker goes on serving other connections.
"""

from __future__ import annotations

import logging
import socket
import struct

import pytest

from riverlog.testing.broker import RunningBroker

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
