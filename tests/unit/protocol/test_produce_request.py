"""The specialised ProduceRequest decoder, field for field against kio, for every version served (3-12).

Three properties, each over every version:
1. kio writes a request hypothesis drew; the specialised decoder reads back exactly kio's fields (the
   records as the same bytes, still a slice of the frame), and so does `decode_request` on the frame.
2. With unknown tagged fields at every level (flexible versions), it reads what kio's lenient reader
   reads: the tags are skipped.
3. Any corruption of a valid request (bytes changed, frame cut short) is refused exactly when kio
   refuses it, except that a null non-nullable array, which kio lets through as None, is refused (as
   Kafka's generated readers do) instead of failing later in the handler; accepted ones agree.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema
from kio.serial import entity_writer

from riverlog.protocol import produce_request
from riverlog.protocol.codec import decode_request, encode_request, read_entity
from riverlog.protocol.errors import InvalidRequestError
from riverlog.protocol.produce_request import decode_produce_request
from riverlog.protocol.wire import INT16, INT32, uvarint

VERSIONS = range(produce_request.MIN_VERSION, produce_request.MAX_VERSION + 1)
FLEXIBLE_VERSIONS = range(9, produce_request.MAX_VERSION + 1)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def kio_request(data: st.DataObject, version: int) -> Any:
    return data.draw(st.from_type(load_request_schema(0, version)))


def kio_body(request: Any) -> bytes:
    buffer = io.BytesIO()
    entity_writer(type(request))(buffer, request)
    return buffer.getvalue()


def kio_fields(request: Any) -> Any:
    """kio's request as plain values, in the shape of the specialised decoder's."""
    return (
        request.transactional_id,
        request.acks,
        round(request.timeout.total_seconds() * 1000),
        [
            (topic.name, [(p.index, p.records) for p in topic.partition_data])
            for topic in request.topic_data
        ],
    )


def fields(request: produce_request.ProduceRequest) -> Any:
    return (
        request.transactional_id,
        request.acks,
        request.timeout_ms,
        [
            (
                topic.name,
                [
                    (p.index, None if p.records is None else bytes(p.records))
                    for p in topic.partition_data
                ],
            )
            for topic in request.topic_data
        ],
    )


@SETTINGS
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_reads_what_kio_wrote(data: st.DataObject, version: int) -> None:
    request = kio_request(data, version)
    body = kio_body(request)
    decoded = decode_produce_request(version, body, 0)
    assert fields(decoded) == kio_fields(request)
    assert fields(decoded) == kio_fields(read_entity(type(request), body, 0))
    # The general reader (what the fast paths fall back to) reads the same.
    general = produce_request._Reader(memoryview(body), 0, version >= 9).request()
    assert fields(general) == kio_fields(request)
    # In a frame, through the codec: the header is skipped and the records are views of the frame.
    frame = encode_request(11, "client", request)[4:]
    via_codec = decode_request(frame)
    assert via_codec.header.correlation_id == 11
    assert isinstance(via_codec.body, produce_request.ProduceRequest)
    assert fields(via_codec.body) == kio_fields(request)
    assert fields(via_codec.body) == kio_fields(decode_request(frame, specialised=False).body)
    for topic in via_codec.body.topic_data:
        for partition in topic.partition_data:
            assert partition.records is None or partition.records.readonly


def with_unknown_tags(request: Any, version: int, tags: list[tuple[int, bytes]]) -> bytes:
    """kio's encoding of a flexible-version request, rebuilt with `tags` at every level."""
    section = uvarint(len(tags)) + b"".join(
        uvarint(tag) + uvarint(len(value)) + value for tag, value in tags
    )

    def compact_nullable(value: bytes | None) -> bytes:
        return b"\x00" if value is None else uvarint(len(value) + 1) + value

    txn = None if request.transactional_id is None else request.transactional_id.encode()
    out = [compact_nullable(txn), struct.pack(">hi", request.acks, kio_fields(request)[2])]
    out.append(uvarint(len(request.topic_data) + 1))
    for topic in request.topic_data:
        out += [compact_nullable(topic.name.encode()), uvarint(len(topic.partition_data) + 1)]
        for p in topic.partition_data:
            out += [INT32.pack(p.index), compact_nullable(p.records), section]
        out.append(section)
    out.append(section)
    return b"".join(out)


tag_lists = st.lists(
    st.tuples(st.integers(min_value=0, max_value=70_000), st.binary(max_size=200)), max_size=3
)


@SETTINGS
@given(data=st.data(), version=st.sampled_from(FLEXIBLE_VERSIONS), tags=tag_lists)
def test_skips_unknown_tagged_fields_at_every_level(
    data: st.DataObject, version: int, tags: list[tuple[int, bytes]]
) -> None:
    request = kio_request(data, version)
    if not tags:  # the rebuilt encoding is kio's own, byte for byte
        assert with_unknown_tags(request, version, tags) == kio_body(request)
    body = with_unknown_tags(request, version, tags)
    decoded = decode_produce_request(version, body, 0)
    assert fields(decoded) == kio_fields(request)
    assert fields(decoded) == kio_fields(read_entity(type(request), body, 0))


def kio_null_array(request: Any) -> bool:
    return request.topic_data is None or any(t.partition_data is None for t in request.topic_data)


# Randomised again: kio is a safe oracle now that `read_entity` prescans the body (kio's native
# reader used to abort the process on some corrupt bodies; see test_corrupt_bodies.py).
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.data(),
    version=st.sampled_from(VERSIONS),
    changes=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
    cut=st.none() | st.integers(min_value=0),
)
def test_corrupt_requests_are_refused_as_kio_refuses_them(
    data: st.DataObject, version: int, changes: list[tuple[int, int]], cut: int | None
) -> None:
    body = bytearray(kio_body(kio_request(data, version)))
    for position, value in changes:
        body[position % len(body)] = value
    if cut is not None:
        del body[cut % (len(body) + 1) :]
    body_bytes = bytes(body)
    try:
        expected = read_entity(load_request_schema(0, version), body_bytes, 0)
    except InvalidRequestError:
        expected = None
    if expected is not None and kio_null_array(expected):
        expected = None  # Kafka refuses a null non-nullable array; kio hands back None
    if expected is None:
        with pytest.raises(InvalidRequestError):
            decode_produce_request(version, body_bytes, 0)
    else:
        assert fields(decode_produce_request(version, body_bytes, 0)) == kio_fields(expected)


# --- cases worth naming ----------------------------------------------------------------------------


def legacy_request(*, topics: bytes) -> bytes:
    return INT16.pack(-1) + struct.pack(">hi", 1, 30_000) + topics


def test_null_records_and_empty_arrays() -> None:
    topics = INT32.pack(2)
    topics += INT16.pack(1) + b"a" + INT32.pack(1) + INT32.pack(5) + INT32.pack(-1)
    topics += INT16.pack(1) + b"b" + INT32.pack(0)
    decoded = decode_produce_request(7, legacy_request(topics=topics), 0)
    assert fields(decoded) == (None, 1, 30_000, [("a", [(5, None)]), ("b", [])])


@pytest.mark.parametrize(
    ("topics", "message"),
    [
        (INT32.pack(-1), "length -1"),  # null topic_data
        (INT32.pack(1) + INT16.pack(-1) + INT32.pack(0), "null"),  # null topic name
        (INT32.pack(1) + INT16.pack(1) + b"a" + INT32.pack(-1), "length -1"),  # null partitions
        (INT32.pack(10**6), "exceeds the frame"),  # more topics than bytes
        (
            INT32.pack(1) + INT16.pack(1) + b"a" + INT32.pack(1) + INT32.pack(0) + INT32.pack(99),
            "fit",
        ),
        (INT32.pack(1) + INT16.pack(2) + b"\xff\xfe" + INT32.pack(0), "utf-8"),
        (INT32.pack(1) + INT16.pack(-2) + INT32.pack(0), "fit"),
    ],
)
def test_malformed_requests_are_refused(topics: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        decode_produce_request(7, legacy_request(topics=topics), 0)


def test_overlong_varint_is_refused() -> None:
    body = b"\x00" + struct.pack(">hi", 1, 1) + b"\xff\xff\xff\xff\xff\x01"
    with pytest.raises(InvalidRequestError, match="varint"):
        decode_produce_request(9, body, 0)


def test_trailing_bytes_are_ignored_and_offset_is_honoured() -> None:
    body = legacy_request(topics=INT32.pack(0))
    decoded = decode_produce_request(3, b"junk" + body + b"more", 4)
    assert fields(decoded) == (None, 1, 30_000, [])


def test_versions_outside_the_specialised_range_are_refused() -> None:
    with pytest.raises(ValueError, match="v13"):
        decode_produce_request(13, b"", 0)
    with pytest.raises(ValueError, match="v2"):
        decode_produce_request(2, b"", 0)
