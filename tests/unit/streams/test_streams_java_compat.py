"""Byte compatibility with Kafka's Java serializers and Kafka Streams' key/value formats.

The expected bytes are written out by hand from the Java formats: LongSerializer/IntegerSerializer
write big-endian two's complement, DoubleSerializer the IEEE 754 bits big-endian, StringSerializer
UTF-8; TimeWindowedSerializer = key + 8-byte window start; SessionWindowedSerializer = key + 8-byte
end + 8-byte start; window-store changelog keys = key + 8-byte start + 4-byte seqnum
(WindowKeySchema); session-store changelog keys = key + end + start (SessionKeySchema); timestamped
stores log the plain value with the record timestamp (ChangeLoggingTimestampedKeyValueBytesStore).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from riverlog.streams import (
    Consumed,
    Materialized,
    Serdes,
    SessionWindows,
    StreamsBuilder,
    TimeWindows,
    Window,
    Windowed,
)
from riverlog.streams.errors import SerializationException
from riverlog.streams.records import Change
from riverlog.streams.serdes import ChangedSerde, SessionWindowedSerde, TimeWindowedSerde
from riverlog.streams.testing import TopologyTestDriver

H = bytes.fromhex


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0000000000000000"),
        (1, "0000000000000001"),
        (-1, "ffffffffffffffff"),
        (1234567890123, "0000011f71fb04cb"),
        ((1 << 63) - 1, "7fffffffffffffff"),
        (-(1 << 63), "8000000000000000"),
    ],
)
def test_long(value: int, expected: str) -> None:
    serde = Serdes.Long()
    assert serde.serializer().serialize("t", value) == H(expected)
    assert serde.deserializer().deserialize("t", H(expected)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "00000000"),
        (1, "00000001"),
        (-2, "fffffffe"),
        (305419896, "12345678"),
        (-(1 << 31), "80000000"),
    ],
)
def test_integer(value: int, expected: str) -> None:
    assert Serdes.Integer().serialize("t", value) == H(expected)
    assert Serdes.Integer().deserialize("t", H(expected)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "3ff0000000000000"),
        (-2.5, "c004000000000000"),
        (0.1, "3fb999999999999a"),
        (0.0, "0000000000000000"),
    ],
)
def test_double(value: float, expected: str) -> None:
    assert Serdes.Double().serialize("t", value) == H(expected)
    assert Serdes.Double().deserialize("t", H(expected)) == value


def test_string_bytes_void_json_and_nulls() -> None:
    assert Serdes.String().serialize("t", "kafka") == b"kafka"
    assert Serdes.String().serialize("t", "é") == H("c3a9")
    assert Serdes.ByteArray().serialize("t", b"\x00\x01") == b"\x00\x01"
    assert Serdes.Bytes().deserialize("t", b"\xff") == b"\xff"
    assert Serdes.Json().serialize("t", {"a": [1, 2]}) == b'{"a":[1,2]}'
    assert Serdes.Json().deserialize("t", b'{"a":[1,2]}') == {"a": [1, 2]}
    for serde in (
        Serdes.String(),
        Serdes.Long(),
        Serdes.Integer(),
        Serdes.Double(),
        Serdes.Json(),
        Serdes.Void(),
    ):
        assert serde.serialize("t", None) is None
        assert serde.deserialize("t", None) is None
    with pytest.raises(SerializationException, match="not 8"):
        Serdes.Long().deserialize("t", b"\x00\x01")
    with pytest.raises(SerializationException):
        Serdes.Void().serialize("t", 1)


def test_windowed_key_serdes() -> None:
    key = Windowed("key", Window(1000, 2000))
    time_bytes = b"key" + H("00000000000003e8")
    assert TimeWindowedSerde(Serdes.String(), 1000).serialize("t", key) == time_bytes
    assert TimeWindowedSerde(Serdes.String(), 1000).deserialize("t", time_bytes) == key
    session_bytes = b"key" + H("00000000000007d0") + H("00000000000003e8")
    assert SessionWindowedSerde(Serdes.String()).serialize("t", key) == session_bytes
    assert SessionWindowedSerde(Serdes.String()).deserialize("t", session_bytes) == key
    long_key = Windowed(7, Window(0, 10))
    assert TimeWindowedSerde(Serdes.Long(), 10).serialize("t", long_key) == H(
        "00000000000000070000000000000000"
    )


def test_changed_serde_for_table_repartition_topics() -> None:
    serde = ChangedSerde(Serdes.Long())
    assert serde.serialize("t", Change(1, None)) == H("000000000000000101")
    assert serde.serialize("t", Change(None, 2)) == H("000000000000000200")
    both = serde.serialize("t", Change(1, 2))
    assert both == H("100000000000000001000000000000000202")  # varint(8) = 0x10 (zig-zag)
    for change in (Change(1, None), Change(None, 2), Change(1, 2)):
        assert serde.deserialize("t", serde.serialize("t", change)) == change


def _changelog(driver: TopologyTestDriver, topic: str):
    return list(driver.outputs[topic])


def test_changelog_formats_of_kv_window_and_session_stores() -> None:
    b = StreamsBuilder()
    grouped = b.stream("in", Consumed.with_(Serdes.String(), Serdes.String())).group_by_key()
    grouped.count(Materialized.as_("kv"))
    grouped.windowed_by(TimeWindows.of_size_with_no_grace(timedelta(seconds=1))).count(
        Materialized.as_("win")
    )
    grouped.windowed_by(SessionWindows.of_inactivity_gap_with_no_grace(timedelta(seconds=1))).count(
        Materialized.as_("ses")
    )
    with TopologyTestDriver(b.build(), {"application.id": "app"}) as driver:
        driver.create_input_topic("in", Serdes.String(), Serdes.String()).pipe_input(
            "key", "v", 1500
        )
        (kv,) = _changelog(driver, "app-kv-changelog")
        assert (kv.key, kv.value, kv.timestamp, kv.partition) == (
            b"key",
            H("0000000000000001"),
            1500,
            0,
        )
        (win,) = _changelog(driver, "app-win-changelog")
        assert win.key == b"key" + H("00000000000003e8") + H("00000000")
        assert (win.value, win.timestamp) == (H("0000000000000001"), 1500)
        (ses,) = _changelog(driver, "app-ses-changelog")
        assert ses.key == b"key" + H("00000000000005dc") + H("00000000000005dc")
        assert (ses.value, ses.timestamp) == (H("0000000000000001"), 1500)
