"""Request/response headers and bodies: round trips, header versions, errors, fuzzing."""

from __future__ import annotations

import struct
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.response_header.v0.header import ResponseHeader as ResponseHeaderV0
from kio.schema.types import TopicName
from kio.static.primitive import i32Timedelta

from riverlog.protocol.codec import (
    DecodedRequest,
    RequestHeaderInfo,
    api_versions_v0_error,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
    known_version_range,
    request_schema,
    response_header_version,
)
from riverlog.protocol.errors import (
    InvalidRequestError,
    ProtocolError,
    UnsupportedVersionError,
)
from riverlog.protocol.framing import FrameDecoder

KNOWN_PAIRS = sorted(
    (key, version) for key, name in api_key_map.items() for version in schema_name_map[name]
)


def unframe(framed: bytes) -> bytes:
    decoder = FrameDecoder()
    decoder.receive_data(framed)
    payload = decoder.next_frame()
    assert payload is not None
    assert decoder.next_frame() is None
    return bytes(payload)


def api_versions_response(version: int) -> Any:
    schema = load_response_schema(18, version)
    if version == 0:
        return schema(error_code=ErrorCode.none, api_keys=())  # type: ignore[call-arg]
    throttle = i32Timedelta.parse(timedelta(0))
    return schema(error_code=ErrorCode.none, api_keys=(), throttle_time=throttle)  # type: ignore[call-arg]


def api_versions_request(version: int) -> Any:
    schema = load_request_schema(18, version)
    if version >= 3:
        return schema(client_software_name="riverlog-test", client_software_version="1.0")
    return schema()


# --- ApiVersions, every version ------------------------------------------------------------------


@pytest.mark.parametrize("version", range(5))
def test_api_versions_request_round_trip(version: int) -> None:
    request = api_versions_request(version)
    decoded = decode_request(unframe(encode_request(77, "my-client", request)))
    assert decoded == DecodedRequest(RequestHeaderInfo(18, version, 77, "my-client"), request)


@pytest.mark.parametrize("version", range(5))
def test_api_versions_response_header_is_always_v0(version: int) -> None:
    schema = load_response_schema(18, version)
    assert schema.__header_schema__ is ResponseHeaderV0  # kio agrees with Kafka
    assert response_header_version(18, version) == 0
    response = api_versions_response(version)
    payload = unframe(encode_response(12345, 18, version, response))
    assert payload[:4] == struct.pack(">i", 12345)
    assert payload[4:6] == b"\x00\x00"  # error_code follows the correlation id directly
    assert decode_response(payload, 18, version).body == response


def test_api_versions_v0_error_layout() -> None:
    framed = api_versions_v0_error(99, [(18, 0, 4), (3, 0, 12)])
    expected_body = struct.pack(">ihi", 99, 35, 2) + struct.pack(">hhhhhh", 18, 0, 4, 3, 0, 12)
    assert framed == struct.pack(">i", len(expected_body)) + expected_body
    response = decode_response(unframe(framed), 18, 0)
    assert response.correlation_id == 99
    assert response.body.error_code == ErrorCode.unsupported_version
    assert [(v.api_key, v.min_version, v.max_version) for v in response.body.api_keys] == [
        (18, 0, 4),
        (3, 0, 12),
    ]


def test_api_versions_of_unknown_version_reports_header() -> None:
    # A newer client's ApiVersions (here v9) still has a readable header: flexible, with tags.
    frame = struct.pack(">hhih", 18, 9, 31, 1) + b"c" + b"\x01\x00\x02hi" + b"whatever"
    header, offset = decode_request_header(frame)
    assert header == RequestHeaderInfo(18, 9, 31, "c")
    assert offset == 11 + 5
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame)
    assert info.value.header == header


# --- headers -------------------------------------------------------------------------------------


def test_kio_versions_are_contiguous_ranges() -> None:
    for key, name in api_key_map.items():
        low, high = known_version_range(key) or (0, -1)
        assert sorted(schema_name_map[name]) == list(range(low, high + 1))


def test_header_of_unknown_api_key_is_decoded() -> None:
    frame = struct.pack(">hhih", 999, 3, -5, -1) + b"body"
    header, offset = decode_request_header(frame)
    assert header == RequestHeaderInfo(999, 3, -5, None)
    assert offset == 10
    with pytest.raises(UnsupportedVersionError):
        decode_request(frame)


def test_unknown_version_of_known_api_raises_unsupported_with_header() -> None:
    low, high = known_version_range(3) or (0, 0)
    assert request_schema(3, high + 1) is None
    frame = struct.pack(">hhih", 3, high + 1, 8, 2) + b"id" + b"\x00"
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame)
    assert info.value.header == RequestHeaderInfo(3, high + 1, 8, "id")
    assert known_version_range(12345) is None
    assert low == 0


@pytest.mark.parametrize("length", range(10))
def test_truncated_header_is_invalid(length: int) -> None:
    full = struct.pack(">hhih", 3, 0, 1, 5) + b"abcde"
    with pytest.raises(InvalidRequestError):
        decode_request_header(full[:length] if length < 8 else full[: length + 3])


def test_negative_client_id_length_other_than_null_is_invalid() -> None:
    with pytest.raises(InvalidRequestError):
        decode_request_header(struct.pack(">hhih", 3, 0, 1, -2))


def test_client_id_with_invalid_utf8_is_replaced() -> None:
    header, _ = decode_request_header(struct.pack(">hhih", 3, 0, 1, 2) + b"\xff\xfe")
    assert header.client_id == "\ufffd\ufffd"


# --- bodies --------------------------------------------------------------------------------------


ROUND_TRIP_SCHEMAS = [
    (0, 3),
    (0, 9),
    (1, 4),
    (1, 12),
    (1, 16),
    (2, 1),
    (2, 8),
    (3, 0),
    (3, 9),
    (3, 12),
    (10, 4),
    (11, 5),
    (11, 9),
    (19, 4),
    (19, 7),
    (22, 4),
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), pair=st.sampled_from(ROUND_TRIP_SCHEMAS))
def test_request_round_trip(data: st.DataObject, pair: tuple[int, int]) -> None:
    request = data.draw(st.from_type(load_request_schema(*pair)))
    client_id = data.draw(st.none() | st.text(max_size=20))
    # The kio path for every schema; Produce's specialised decoder: test_produce_request.py.
    decoded = decode_request(unframe(encode_request(11, client_id, request)), specialised=False)
    assert decoded.body == request
    assert decoded.header == RequestHeaderInfo(pair[0], pair[1], 11, client_id)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), pair=st.sampled_from(ROUND_TRIP_SCHEMAS))
def test_response_round_trip(data: st.DataObject, pair: tuple[int, int]) -> None:
    schema = load_response_schema(*pair)
    response = data.draw(st.from_type(schema))
    payload = unframe(encode_response(-7, pair[0], pair[1], response))
    flexible = schema.__flexible__
    assert response_header_version(*pair) == (1 if flexible else 0)
    if flexible:
        assert payload[4] == 0  # empty tagged-field section of response header v1
    decoded = decode_response(payload, *pair)
    assert (decoded.correlation_id, decoded.body) == (-7, response)


def test_trailing_bytes_after_body_are_ignored_like_kafka() -> None:
    request = api_versions_request(3)
    payload = unframe(encode_request(1, "c", request))
    assert decode_request(payload + b"\x00garbage").body == request


def test_every_truncation_of_a_request_is_invalid() -> None:
    request = MetadataRequest(
        topics=(MetadataRequestTopic(topic_id=None, name=TopicName("t")),),
        allow_auto_topic_creation=True,
        include_topic_authorized_operations=False,
    )
    payload = unframe(encode_request(1, "client", request))
    assert decode_request(payload).body == request
    for length in range(len(payload)):
        with pytest.raises(InvalidRequestError):
            decode_request(payload[:length])


def test_encode_response_refuses_mismatched_api() -> None:
    response = api_versions_response(3)
    with pytest.raises(ValueError):
        encode_response(1, 18, 2, response)
    with pytest.raises(ValueError):
        encode_response(1, 3, 3, response)


def test_truncated_response_is_invalid() -> None:
    with pytest.raises(InvalidRequestError):
        decode_response(b"\x00\x00", 18, 0)
    with pytest.raises(InvalidRequestError):
        decode_response(struct.pack(">i", 1) + b"\x00", 18, 0)


def test_decode_request_accepts_memoryview_frames() -> None:
    request = api_versions_request(4)
    payload = memoryview(unframe(encode_request(3, None, request)))
    assert decode_request(payload).body == request


# --- fuzzing: any bytes decode or raise one of our errors ----------------------------------------


def decode_or_protocol_error(frame: bytes) -> None:
    try:
        result = decode_request(frame)
    except ProtocolError:
        return
    assert isinstance(result, DecodedRequest)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(frame: bytes) -> None:
    decode_or_protocol_error(frame)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    pair=st.sampled_from(KNOWN_PAIRS),
    client_id=st.binary(max_size=8),
    body=st.binary(max_size=120),
)
def test_fuzz_valid_header_random_body(
    pair: tuple[int, int], client_id: bytes, body: bytes
) -> None:
    header = struct.pack(">hhih", pair[0], pair[1], 1, len(client_id)) + client_id
    decode_or_protocol_error(header + body)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.data(),
    pair=st.sampled_from(ROUND_TRIP_SCHEMAS),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
)
def test_fuzz_mutated_valid_requests(
    data: st.DataObject, pair: tuple[int, int], flips: list[tuple[int, int]]
) -> None:
    request = data.draw(st.from_type(load_request_schema(*pair)))
    payload = bytearray(unframe(encode_request(1, "c", request)))
    for position, value in flips:
        payload[position % len(payload)] = value
    decode_or_protocol_error(bytes(payload))
