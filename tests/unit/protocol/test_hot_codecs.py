"""The specialised ProduceResponse / FetchResponse encoders, byte for byte against kio.

For every version the broker can answer (and kio knows), hypothesis builds kio response objects; the
specialised encoder must write exactly kio's bytes, both from kio's object (it reads the same field
names) and from the equivalent plain object a handler builds. The framed form must match
`encode_response`'s kio path too (size prefix, correlation id, response header v0/v1).
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import uuid
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from riverlog.protocol import fetch_response, produce_response
from riverlog.protocol.codec import decode_response, encode_response
from riverlog.protocol.wire import nullable_bytes, string, tagged_fields, uvarint

PRODUCE_VERSIONS = range(produce_response.MIN_VERSION, produce_response.MAX_VERSION + 1)
FETCH_VERSIONS = range(fetch_response.MIN_VERSION, fetch_response.MAX_VERSION + 1)
# Drawing nested kio objects is slow: a few examples per version, every version each run.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def kio_body(response: Any) -> bytes:
    buffer = io.BytesIO()
    entity_writer(type(response))(buffer, response)
    return buffer.getvalue()


def joined(parts: list[Any]) -> bytes:
    return b"".join(parts)


def to_plain(value: Any, module: ModuleType) -> Any:
    """kio's object tree as the plain classes of `module` (same class and field names)."""
    if isinstance(value, tuple):
        return tuple(to_plain(item, module) for item in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    plain_class = getattr(module, type(value).__name__)
    names = {f.name for f in dataclasses.fields(plain_class)}
    values = {
        f.name: to_plain(getattr(value, f.name), module)
        for f in dataclasses.fields(value)
        if f.name in names
    }
    # A field one version lacks but the plain class requires (topic name from v13 on).
    for f in dataclasses.fields(plain_class):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in values and required:
            values[f.name] = ""
    return plain_class(**values)


# --- ProduceResponse ----------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), version=st.sampled_from(PRODUCE_VERSIONS))
def test_produce_response_matches_kio(data: st.DataObject, version: int) -> None:
    response = data.draw(st.from_type(load_response_schema(0, version)))
    expected = kio_body(response)
    assert joined(produce_response.encode_produce_response(version, response)) == expected
    plain = to_plain(response, produce_response)
    assert joined(produce_response.encode_produce_response(version, plain)) == expected
    framed = encode_response(42, 0, version, plain)
    assert framed == encode_response(42, 0, version, response)
    assert decode_response(framed[4:], 0, version).correlation_id == 42


@pytest.mark.parametrize("version", PRODUCE_VERSIONS)
def test_produce_response_typical_answer(version: int) -> None:
    """What the produce handler builds most: one partition, no errors, defaults elsewhere."""
    plain = produce_response.ProduceResponse(
        responses=[
            produce_response.TopicProduceResponse(
                "topic-a",
                [produce_response.PartitionProduceResponse(3, ErrorCode.none, 1234, None, 7)],
            )
        ]
    )
    schema = load_response_schema(0, version)
    kio_module = __import__(schema.__module__, fromlist=["_"])
    topic = {"topic_id": uuid.UUID(int=0)} if version >= 13 else {"name": "topic-a"}
    partition = kio_module.PartitionProduceResponse(
        index=3,
        error_code=ErrorCode.none,
        base_offset=1234,
        log_append_time=None,
        **({"log_start_offset": 7} if version >= 5 else {}),
        **({"record_errors": ()} if version >= 8 else {}),
    )
    kio_response = schema(
        responses=(kio_module.TopicProduceResponse(partition_responses=(partition,), **topic),),
        throttle_time=datetime.timedelta(0),
    )
    assert encode_response(5, 0, version, plain) == encode_response(5, 0, version, kio_response)


def test_produce_response_refuses_versions_it_does_not_know() -> None:
    plain = produce_response.ProduceResponse(responses=[])
    with pytest.raises(ValueError, match="v2"):
        produce_response.encode_produce_response(2, plain)
    with pytest.raises(ValueError, match="api 0"):
        encode_response(1, 1, 12, plain)  # a ProduceResponse is not a Fetch answer


# --- FetchResponse ------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), version=st.sampled_from(FETCH_VERSIONS))
def test_fetch_response_matches_kio(data: st.DataObject, version: int) -> None:
    response = data.draw(st.from_type(load_response_schema(1, version)))
    expected = kio_body(response)
    assert joined(fetch_response.encode_fetch_response(version, response)) == expected
    plain = to_plain(response, fetch_response)
    assert joined(fetch_response.encode_fetch_response(version, plain)) == expected
    framed = encode_response(-3, 1, version, plain)
    assert framed == encode_response(-3, 1, version, response)
    assert decode_response(framed[4:], 1, version).correlation_id == -3


@pytest.mark.parametrize("version", [4, 11, 12, 13, 17])
def test_fetch_response_keeps_records_bytes_as_they_are(version: int) -> None:
    batch = bytes(range(256)) * 40
    plain = fetch_response.FetchResponse(
        responses=[
            fetch_response.FetchableTopicResponse(
                "t",
                [
                    fetch_response.PartitionData(0, ErrorCode.none, 10, 10, 0, None, -1, batch),
                    fetch_response.PartitionData(1, ErrorCode.none, 0, 0, 0, [], -1, b""),
                    fetch_response.PartitionData(2, ErrorCode.offset_out_of_range),
                ],
                uuid.uuid4(),
            )
        ],
        session_id=99,
    )
    parts = fetch_response.encode_fetch_response(version, plain)
    assert any(part is batch for part in parts)  # handed on, not copied
    decoded = decode_response(encode_response(1, 1, version, plain)[4:], 1, version).body
    partitions = decoded.responses[0].partitions
    assert [bytes(p.records) if p.records is not None else None for p in partitions] == [
        batch,
        b"",
        None,
    ]
    assert partitions[0].high_watermark == 10
    if version >= 7:
        assert decoded.session_id == 99


def test_fetch_response_tagged_fields_only_when_not_default() -> None:
    def partition(**tags: Any) -> fetch_response.PartitionData:
        return fetch_response.PartitionData(0, ErrorCode.none, records=b"", **tags)

    def body(p: fetch_response.PartitionData) -> bytes:
        topic = fetch_response.FetchableTopicResponse("t", [p], uuid.UUID(int=1))
        return joined(
            fetch_response.encode_fetch_response(12, fetch_response.FetchResponse([topic]))
        )

    default = partition(diverging_epoch=fetch_response.EpochEndOffset())
    assert body(default) == body(partition())
    diverging = partition(diverging_epoch=fetch_response.EpochEndOffset(5, 100))
    decoded = decode_response(
        encode_response(1, 1, 12, fetch_response.FetchResponse([]))[4:], 1, 12
    )
    assert decoded.body.responses == ()
    assert len(body(diverging)) == len(body(default)) + 2 + 13  # tag, size, struct + its tags


# --- primitives ---------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_uvarint_matches_kio(value: int) -> None:
    from kio.serial.writers import write_unsigned_varint

    buffer = io.BytesIO()
    write_unsigned_varint(buffer, value)  # type: ignore[arg-type]
    assert uvarint(value) == buffer.getvalue()


@given(st.text(max_size=300), st.booleans())
def test_strings_match_kio(value: str, flexible: bool) -> None:
    from kio.serial.writers import write_compact_string, write_legacy_string

    buffer = io.BytesIO()
    (write_compact_string if flexible else write_legacy_string)(buffer, value)
    assert string(value, flexible) == buffer.getvalue()


def test_nullable_bytes_and_tagged_sections() -> None:
    assert nullable_bytes(None, True) == [b"\x00"]
    assert nullable_bytes(None, False) == [b"\xff\xff\xff\xff"]
    assert nullable_bytes(b"", False) == [b"\x00\x00\x00\x00"]
    assert joined(nullable_bytes(b"ab", True)) == b"\x03ab"
    assert tagged_fields([]) == b"\x00"
    assert tagged_fields([(0, b"xy"), (300, b"")]) == b"\x02\x00\x02xy\xac\x02\x00"
