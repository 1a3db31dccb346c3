"""Unknown tagged fields are skipped in request headers and bodies, at every nesting level."""

from __future__ import annotations

import dataclasses
import io
import struct
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.serial import entity_reader, entity_writer
from kio.serial._implicit_defaults import get_tagged_field_default
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    classify_field,
    is_optional,
)
from kio.serial._serialize import get_field_writer
from kio.serial.writers import (
    compact_array_writer,
    legacy_array_writer,
    write_int8,
    write_unsigned_varint,
)
from kio.static.primitive import i32, i32Timedelta, uvarint

from riverlog.protocol.codec import decode_request, decode_request_header, encode_request
from riverlog.protocol.errors import InvalidRequestError
from riverlog.protocol.tagged import lenient_entity_reader, skip_tagged_fields

UNKNOWN_TAG = 9_999
UNKNOWN_VALUE = b"\xde\xad\xbe\xef"

Writer = Callable[[io.BytesIO, Any], None]


def uvarint_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    write_unsigned_varint(buffer, uvarint(value))
    return buffer.getvalue()


def tagged_section(*fields: tuple[int, bytes]) -> bytes:
    out = uvarint_bytes(len(fields))
    for tag, value in fields:
        out += uvarint_bytes(tag) + uvarint_bytes(len(value)) + value
    return out


def kio_encode(entity: Any) -> bytes:
    buffer = io.BytesIO()
    entity_writer(type(entity))(buffer, entity)
    return buffer.getvalue()


# --- a writer that adds an unknown tag to every flexible struct (as a newer client would) ------


def writer_with_unknown_tags(entity_type: type[Any]) -> Writer:
    """Like kio's entity_writer, but every flexible struct also carries UNKNOWN_TAG."""
    flexible = entity_type.__flexible__
    fixed: list[tuple[str, Writer]] = []
    tagged: list[tuple[int, dataclasses.Field[Any], Writer]] = []
    for field in dataclasses.fields(entity_type):
        tag = field.metadata.get("tag")
        writer = _field_writer(field, flexible, is_tag=tag is not None)
        if tag is None:
            fixed.append((field.name, writer))
        else:
            tagged.append((tag, field, writer))

    def write(buffer: io.BytesIO, entity: Any) -> None:
        for name, writer in fixed:
            writer(buffer, getattr(entity, name))
        if not flexible:
            return
        fields = [(UNKNOWN_TAG, UNKNOWN_VALUE)]
        for tag, field, writer in tagged:
            value = getattr(entity, field.name)
            if value != _tag_default(field):
                value_buffer = io.BytesIO()
                writer(value_buffer, value)
                fields.append((tag, value_buffer.getvalue()))
        buffer.write(tagged_section(*sorted(fields)))

    return write


def _tag_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return get_tagged_field_default(field)


def _field_writer(field: dataclasses.Field[Any], flexible: bool, *, is_tag: bool) -> Writer:
    match classify_field(field):
        case EntityField(nested):
            inner = writer_with_unknown_tags(nested)
            return _nullable(inner) if is_optional(field) and not is_tag else inner
        case EntityTupleField(nested):
            array = compact_array_writer if flexible else legacy_array_writer
            return array(writer_with_unknown_tags(nested))  # type: ignore[return-value]
    return get_field_writer(field, flexible, is_request_header=False, is_tag=is_tag)  # type: ignore[return-value]


def _nullable(inner: Writer) -> Writer:
    def write(buffer: io.BytesIO, value: Any) -> None:
        if value is None:
            write_int8(buffer, -1)  # type: ignore[arg-type]
        else:
            write_int8(buffer, 1)  # type: ignore[arg-type]
            inner(buffer, value)

    return write


def header_v2(api_key: int, version: int, correlation_id: int, client_id: bytes) -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


# --- tests ----------------------------------------------------------------------------------------


def test_kio_native_reader_rejects_unknown_tags() -> None:
    # The behaviour riverlog works around; if a kio upgrade fixes it, the fallback can go.
    schema = load_request_schema(18, 3)
    body = kio_encode(schema(client_software_name="x", client_software_version="1"))
    with_tag = body[:-1] + tagged_section((5, b"\xab\xcd"))
    with pytest.raises(KeyError, match="Unknown tagged field"):
        entity_reader(schema)(with_tag, 0)


def test_unknown_tag_in_top_level_body_is_skipped() -> None:
    schema = load_request_schema(18, 3)
    request = schema(client_software_name="librdkafka", client_software_version="2.6.0")
    body = kio_encode(request)
    assert body.endswith(b"\x00")  # empty tagged-field section closes the struct
    frame = header_v2(18, 3, 42, b"cli") + b"\x00" + body[:-1] + tagged_section((5, b"\xab\xcd"))
    decoded = decode_request(frame)
    assert decoded.body == request
    assert decoded.header.correlation_id == 42


def test_unknown_tag_in_nested_struct_is_skipped() -> None:
    topic = MetadataRequestTopic(topic_id=None, name="orders")  # type: ignore[arg-type]
    topic_bytes = kio_encode(topic)[:-1] + tagged_section((3, b"zz"), (70, b""))
    body = (
        uvarint_bytes(2)  # compact array of one topic
        + topic_bytes
        + b"\x01\x00"  # allow_auto_topic_creation, include_topic_authorized_operations
        + tagged_section((1, b"\x01\x02\x03"))
    )
    decoded = decode_request(header_v2(3, 12, 7, b"c") + b"\x00" + body)
    assert decoded.body == MetadataRequest(
        topics=(topic,), allow_auto_topic_creation=True, include_topic_authorized_operations=False
    )


def test_request_header_tagged_fields_are_skipped() -> None:
    schema = load_request_schema(18, 4)
    request = schema(client_software_name="a", client_software_version="b")
    tags = tagged_section((0, b"software"), (1, b""), (300, b"x" * 200))
    frame = header_v2(18, 4, 9, b"client") + tags + kio_encode(request)
    header, offset = decode_request_header(frame)
    assert (header.api_key, header.api_version, header.correlation_id) == (18, 4, 9)
    assert header.client_id == "client"
    assert offset == 8 + 2 + len(b"client") + len(tags)
    assert decode_request(frame).body == request


def test_truncated_header_tag_is_invalid() -> None:
    frame = header_v2(18, 3, 1, b"c") + b"\x01\x05\x10abc"  # tag 5 claims 16 bytes, has 3
    with pytest.raises(InvalidRequestError):
        decode_request_header(frame)


def test_truncated_body_tag_is_invalid() -> None:
    schema = load_request_schema(18, 3)
    body = kio_encode(schema(client_software_name="x", client_software_version="1"))
    frame = header_v2(18, 3, 1, b"c") + b"\x00" + body[:-1] + b"\x01\x05\x09ab"
    with pytest.raises(InvalidRequestError):
        decode_request(frame)


def test_known_tag_value_is_read_within_its_declared_size() -> None:
    # A newer writer may append bytes to a tagged value; readers take what they know.
    schema = load_request_schema(1, 12)
    request = schema(
        max_wait=i32Timedelta.parse(timedelta(milliseconds=500)),
        min_bytes=i32(1),
        topics=(),
        forgotten_topics_data=(),
    )
    body = kio_encode(request)[:-1]
    cluster_id = b"\x04abc" + b"extra"  # compact string "abc", then bytes this reader ignores
    decoded, size = lenient_entity_reader(schema)(body + tagged_section((0, cluster_id)), 0)
    assert decoded.cluster_id == "abc"
    assert size == len(body) + len(tagged_section((0, cluster_id)))


def test_skip_tagged_fields_counts_every_byte() -> None:
    section = tagged_section((0, b"a"), (200, b"b" * 300), (2**20, b""))
    assert skip_tagged_fields(section + b"rest", 0) == len(section)


FLEXIBLE_SCHEMAS = [
    load_request_schema(18, 3),
    load_request_schema(3, 12),
    load_request_schema(1, 12),
    load_request_schema(1, 16),
    load_request_schema(0, 9),
    load_request_schema(11, 9),
    load_request_schema(2, 8),
    load_request_schema(8, 9),
    load_request_schema(19, 7),
]

ALL_SCHEMAS = [
    *FLEXIBLE_SCHEMAS,
    load_request_schema(3, 0),
    load_request_schema(0, 3),
    load_request_schema(1, 4),
    load_response_schema(3, 12),
    load_response_schema(1, 12),
    load_response_schema(1, 16),
    load_response_schema(18, 3),
    load_response_schema(3, 5),
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), schema=st.sampled_from(FLEXIBLE_SCHEMAS))
def test_unknown_tags_everywhere_decode_to_the_same_request(
    data: st.DataObject, schema: type[Any]
) -> None:
    request = data.draw(st.from_type(schema))
    buffer = io.BytesIO()
    buffer.write(header_v2(schema.__api_key__, schema.__version__, 3, b"c"))
    buffer.write(tagged_section((UNKNOWN_TAG, UNKNOWN_VALUE)))
    body_start = buffer.tell()
    writer_with_unknown_tags(schema)(buffer, request)
    frame = buffer.getvalue()
    with pytest.raises(KeyError):  # kio alone cannot read what a newer client sends
        entity_reader(schema)(frame, body_start)
    # The kio path for every schema; Produce's specialised decoder: test_produce_request.py.
    assert decode_request(frame, specialised=False).body == request


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), schema=st.sampled_from(ALL_SCHEMAS))
def test_lenient_reader_agrees_with_kio(data: st.DataObject, schema: type[Any]) -> None:
    entity = data.draw(st.from_type(schema))
    encoded = kio_encode(entity)
    assert lenient_entity_reader(schema)(encoded, 0) == entity_reader(schema)(encoded, 0)
    assert lenient_entity_reader(schema)(encoded, 0) == (entity, len(encoded))


def test_encode_request_writes_an_empty_header_tag_section_for_flexible_versions() -> None:
    schema = load_request_schema(18, 3)
    framed = encode_request(5, "ab", schema(client_software_name="n", client_software_version="v"))
    assert framed[4:17] == struct.pack(">hhih", 18, 3, 5, 2) + b"ab" + b"\x00"
