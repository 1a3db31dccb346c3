"""FrameDecoder's buffered path (get_buffer / buffer_updated) and its BufferPool: frames as with
receive_data, in a bounded receive buffer, large frames in reused buffers that are never overwritten
while any view of them is alive."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riverlog.protocol.errors import FrameTooLargeError
from riverlog.protocol.framing import RECEIVE_BUFFER_BYTES, BufferPool, FrameDecoder, frame


def feed(decoder: FrameDecoder, data: bytes, read_sizes: list[int] | None = None) -> list[bytes]:
    """Deliver `data` as a BufferedProtocol transport does (reads of at most the lent view, and of
    the next size in `read_sizes`), draining frames after every read; returns their bytes."""
    sizes = list(read_sizes or [])
    received: list[bytes] = []
    taken = 0
    while taken < len(data):
        space = decoder.get_buffer(-1)
        assert len(space) > 0
        size = min(len(space), len(data) - taken, sizes.pop(0) if sizes else len(data))
        size = max(size, 1)
        space[:size] = data[taken : taken + size]
        del space  # a transport drops its view once the read is reported
        decoder.buffer_updated(size)
        taken += size
        while (payload := decoder.next_frame()) is not None:
            received.append(bytes(payload))
    return received


large_payloads = st.builds(
    lambda size, fill: bytes([fill]) * (size - 1) + b"!",
    st.integers(min_value=65_000, max_value=300_000),
    st.integers(min_value=0, max_value=255),
)


@settings(max_examples=150, deadline=None)
@given(
    payloads=st.lists(st.one_of(st.binary(max_size=70_000), large_payloads), max_size=6),
    read_sizes=st.lists(st.integers(min_value=1, max_value=200_000), max_size=40),
)
def test_buffered_reads_give_the_frames_in_order(
    payloads: list[bytes], read_sizes: list[int]
) -> None:
    decoder = FrameDecoder()
    assert feed(decoder, b"".join(frame(p) for p in payloads), read_sizes) == payloads
    assert decoder.buffered_bytes == 0
    assert len(decoder._buffer) <= RECEIVE_BUFFER_BYTES


def test_receive_buffer_stays_the_same_size_through_many_small_frames() -> None:
    decoder = FrameDecoder()
    small = frame(bytes(range(256)) * 12)  # 3 KB, like a Produce request at linger.ms=0
    stream = small * 400  # 1.2 MB through a 128 KiB buffer
    assert feed(decoder, stream, [5000, 1, 70_000, 3] * 200) == [small[4:]] * 400
    assert len(decoder._buffer) == RECEIVE_BUFFER_BYTES


def test_a_small_frame_is_a_copy_that_outlives_the_receive_buffer() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(frame(b"first") + frame(b"sec"))
    first = decoder.next_frame()
    decoder.receive_data(frame(b"third"))  # reuses the receive buffer from its start
    assert isinstance(first, bytes)
    assert first == b"first"
    assert [decoder.next_frame(), decoder.next_frame()] == [b"sec", b"third"]


def test_large_frames_reuse_one_pooled_buffer_once_released() -> None:
    pool = BufferPool()
    decoder = FrameDecoder(pool=pool)
    payload = b"a" * 200_000
    feed_one = frame(payload)
    decoder.receive_data(feed_one)
    first = decoder.next_frame()
    assert isinstance(first, memoryview) and first.readonly and first == payload
    buffer_id = id(first.obj)
    del first
    decoder.receive_data(frame(b"b" * 150_000))
    second = decoder.next_frame()
    assert isinstance(second, memoryview)
    assert id(second.obj) == buffer_id  # the same buffer, nothing allocated
    assert second == b"b" * 150_000


def test_a_frame_still_in_use_is_never_overwritten() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(frame(b"a" * 100_000))
    first = decoder.next_frame()
    assert isinstance(first, memoryview)
    records = first[10:20]  # a slice kept by a handler (the specialised Produce decoder's records)
    del first
    decoder.receive_data(frame(b"b" * 100_000))
    second = decoder.next_frame()
    assert isinstance(second, memoryview)
    assert records.obj is not second.obj
    assert bytes(records) == b"a" * 10
    assert second == b"b" * 100_000


def test_decoders_share_a_pool_without_sharing_buffers_in_use() -> None:
    pool = BufferPool()
    one, two = FrameDecoder(pool=pool), FrameDecoder(pool=pool)
    one.receive_data(frame(b"1" * 70_000))
    two.receive_data(frame(b"2" * 70_000))
    from_one, from_two = one.next_frame(), two.next_frame()
    assert isinstance(from_one, memoryview) and isinstance(from_two, memoryview)
    assert from_one.obj is not from_two.obj
    assert (from_one, from_two) == (b"1" * 70_000, b"2" * 70_000)


def test_pool_keeps_no_more_than_its_budget() -> None:
    pool = BufferPool(max_bytes=300_000)
    buffers = [pool.acquire(100_000) for _ in range(4)]
    assert all(len(b) >= 100_000 for b in buffers)
    for buffer in buffers:
        pool.give_back(buffer)
    assert pool.idle_bytes <= 300_000
    assert pool.acquire(100_000) in buffers  # one came back
    assert len(pool.acquire(400_000)) >= 400_000  # nothing idle is big enough: a new one


def test_pool_skips_a_buffer_that_is_still_viewed() -> None:
    pool = BufferPool()
    buffer = pool.acquire(70_000)
    view = memoryview(buffer)
    pool.give_back(buffer)
    assert pool.acquire(70_000) is not buffer
    view.release()
    assert pool.acquire(70_000) is buffer
    assert len(buffer) == len(bytearray(len(buffer)))  # the check left its size as it was


def test_bad_prefix_after_good_frames_raises_after_them_and_drops_what_follows() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    data = frame(b"ok") + struct.pack(">i", 5000) + b"junk"
    assert feed(decoder, data[:3]) == []
    space = decoder.get_buffer(-1)
    space[: len(data) - 3] = data[3:]
    del space
    decoder.buffer_updated(len(data) - 3)
    assert decoder.next_frame() == b"ok"
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()
    feed_more = decoder.get_buffer(-1)
    assert len(feed_more) > 0  # a transport may still deliver bytes; they are dropped
    feed_more[:4] = b"\x00\x00\x00\x00"
    del feed_more
    decoder.buffer_updated(4)
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_a_large_frame_read_stops_at_its_end() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(struct.pack(">i", 70_000) + b"x" * 10)
    space = decoder.get_buffer(-1)
    assert len(space) == 70_000 - 10  # the transport writes that frame's bytes and no more
