"""Byte layouts the runtime shares with Kafka Connect: ConnectProtocol V0 metadata/assignment, offset
keys, and the file source's line splitting."""

from __future__ import annotations

import struct

from riverlog.connect.file import _split_lines
from riverlog.connect.group import Assignment, decode_metadata, encode_metadata, round_robin
from riverlog.connect.offsets import key_bytes, value_bytes


def test_metadata_v0_layout() -> None:
    raw = encode_metadata("http://w1:8083", 42)
    assert raw == struct.pack(">hh", 0, 14) + b"http://w1:8083" + struct.pack(">q", 42)
    assert decode_metadata(raw) == ("http://w1:8083", 42)


def test_assignment_v0_round_trip_and_connector_marker() -> None:
    a = Assignment(0, "m-1", "http://w1:8083", 7, ["c1"], [("c1", 0), ("c2", 3)])
    raw = a.encode()
    assert raw.startswith(struct.pack(">hh", 0, 0) + struct.pack(">h", 3) + b"m-1")
    back = Assignment.decode(raw)
    assert back == a


def test_round_robin_deals_connectors_then_tasks() -> None:
    out = round_robin(
        ["b", "a"], ["x", "y", "z"], [("x", 0), ("x", 1)], lambda m: Assignment(0, "a", "u", 0)
    )
    assert out["a"].connectors == ["x", "z"] and out["b"].connectors == ["y"]
    assert out["a"].tasks == [("x", 0)] and out["b"].tasks == [("x", 1)]


def test_offset_key_and_value_bytes_are_kafkas() -> None:
    assert key_bytes("src", {"filename": "/tmp/a b.txt"}) == b'["src",{"filename":"/tmp/a b.txt"}]'
    assert value_bytes({"position": 12}) == b'{"position":12}'
    assert value_bytes(None) is None


def test_file_lines_split_on_lf_crlf_and_cr_and_wait_for_partial() -> None:
    lines, used = _split_lines(b"a\nb\r\nc\rd", 10)
    assert lines == [(b"a", 2), (b"b", 3), (b"c", 2)] and used == 7
    lines, used = _split_lines(b"x\r", 10)  # a CR at the end may be half of CRLF: wait
    assert lines == [] and used == 0
    lines, _ = _split_lines(b"1\n2\n3\n", 2)
    assert [line for line, _ in lines] == [b"1", b"2"]
