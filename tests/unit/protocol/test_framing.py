"""FrameDecoder: frames come out whole and in order, however the stream is chunked."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riverlog.protocol.errors import FrameTooLargeError
from riverlog.protocol.framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, frame


def drain(decoder: FrameDecoder) -> list[bytes]:
    frames = []
    while (payload := decoder.next_frame()) is not None:
        frames.append(bytes(payload))
    return frames


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_frame_prefixes_big_endian_size() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00"
    assert frame(memoryview(b"xy")) == b"\x00\x00\x00\x02xy"


def test_default_max_is_kafkas_socket_request_max_bytes() -> None:
    assert DEFAULT_MAX_FRAME_BYTES == 104857600
    assert FrameDecoder().max_frame_bytes == 104857600


def test_incomplete_prefix_and_payload_yield_nothing_until_whole() -> None:
    decoder = FrameDecoder()
    data = frame(b"hello")
    for byte in data[:-1]:
        decoder.receive_data(bytes([byte]))
        assert decoder.next_frame() is None
    decoder.receive_data(data[-1:])
    assert decoder.next_frame() == b"hello"
    assert decoder.next_frame() is None
    assert decoder.buffered_bytes == 0


def test_several_frames_in_one_chunk() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(frame(b"a") + frame(b"") + frame(b"ccc") + frame(b"dd")[:3])
    assert drain(decoder) == [b"a", b"", b"ccc"]
    assert decoder.buffered_bytes == 3
    decoder.receive_data(frame(b"dd")[3:])
    assert drain(decoder) == [b"dd"]


def test_large_frame_is_filled_in_place_and_returned_as_memoryview() -> None:
    decoder = FrameDecoder()
    payload = bytes(range(256)) * 1024  # 256 KiB, above the large-frame threshold
    data = frame(payload) + frame(b"next")
    received = []
    for start in range(0, len(data), 4096):  # as a connection does: drain after every read
        decoder.receive_data(data[start : start + 4096])
        while (result := decoder.next_frame()) is not None:
            received.append(result)
    first, second = received
    assert isinstance(first, memoryview)
    assert first == payload
    assert second == b"next"
    assert decoder.buffered_bytes == 0


def test_large_frame_arriving_whole_is_still_returned() -> None:
    decoder = FrameDecoder()
    payload = b"x" * 200_000
    decoder.receive_data(frame(payload))
    result = decoder.next_frame()
    assert result is not None
    assert bytes(result) == payload


def test_large_frame_tail_and_following_frames_in_same_chunk() -> None:
    decoder = FrameDecoder()
    payload = b"y" * 100_000
    data = frame(payload) + frame(b"a") + frame(b"b")
    decoder.receive_data(data[:10])
    assert decoder.next_frame() is None  # switches to a dedicated buffer
    decoder.receive_data(data[10:])
    assert drain(decoder) == [payload, b"a", b"b"]


@pytest.mark.parametrize("size", [DEFAULT_MAX_FRAME_BYTES + 1, 2**31 - 1, -1, -(2**31)])
def test_size_out_of_range_raises_and_stays_broken(size: int) -> None:
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">i", size) + b"data")
    with pytest.raises(FrameTooLargeError) as info:
        decoder.next_frame()
    assert info.value.size == size
    decoder.receive_data(frame(b"ok"))
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_configured_max_is_inclusive() -> None:
    decoder = FrameDecoder(max_frame_bytes=8)
    decoder.receive_data(frame(b"12345678"))
    assert decoder.next_frame() == b"12345678"
    decoder.receive_data(frame(b"123456789"))
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_oversized_frame_is_rejected_before_its_payload_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    decoder.receive_data(struct.pack(">i", 1001))
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_consumed_prefix_is_dropped() -> None:
    decoder = FrameDecoder()
    small = frame(b"z" * 1000)
    for _ in range(500):  # 500 KB through the shared buffer, one frame at a time
        decoder.receive_data(small + small[:7])
        assert decoder.next_frame() == b"z" * 1000
        decoder.receive_data(small[7:])
        assert decoder.next_frame() == b"z" * 1000
    assert decoder.buffered_bytes == 0
    assert len(decoder._buffer) < 200_000


large_payloads = st.builds(
    lambda size, fill: bytes([fill]) * (size - 1) + b"!",
    st.integers(min_value=65_000, max_value=300_000),
    st.integers(min_value=0, max_value=255),
)


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(
        st.one_of(st.binary(max_size=300), large_payloads),
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
)
def test_any_chunking_gives_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(payload) for payload in payloads)
    decoder = FrameDecoder()
    received: list[bytes] = []
    for chunk in chunked(stream, cuts):
        decoder.receive_data(chunk)
        received.extend(drain(decoder))
    assert received == payloads
    assert decoder.buffered_bytes == 0


def test_large_frames_decode_as_requests() -> None:
    """Regression: large frames came back as writable memoryviews, which kio's reader refused."""
    from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic

    from riverlog.protocol.codec import decode_request, encode_request
    from riverlog.protocol.framing import FrameDecoder

    topics = tuple(MetadataRequestTopic(topic_id=None, name=f"t{i:06d}") for i in range(10_000))
    request = MetadataRequest(
        topics=topics, allow_auto_topic_creation=False, include_topic_authorized_operations=False
    )
    wire = encode_request(1, "c", request)
    assert len(wire) > 64 * 1024
    decoder = FrameDecoder()
    decoder.receive_data(wire[:1000])
    assert decoder.next_frame() is None
    decoder.receive_data(wire[1000:])
    frame = decoder.next_frame()
    assert frame is not None
    assert decode_request(frame).body == request
