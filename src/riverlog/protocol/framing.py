"""Sans-IO framing of the Kafka wire protocol: a 4-byte big-endian size, then that many bytes.

Every request and response on a Kafka connection is one such frame. ``FrameDecoder`` takes bytes as
the transport delivers them and hands back whole frames (``next_frame``); it never touches a socket, so
the asyncio layer only moves bytes (h11's ``receive_data`` / ``next_event`` shape). Bytes come in one of
two ways: ``receive_data(data)`` copies them in, or the transport writes straight into the decoder's
memory, asyncio's BufferedProtocol way: ``get_buffer()`` lends a writable view, ``buffer_updated(n)``
says how many bytes landed there. The second saves a copy and an allocation per read.

Memory:
- Small frames (under ``_LARGE_FRAME_BYTES``) are received into one reused buffer of
  ``RECEIVE_BUFFER_BYTES`` per decoder and copied out as ``bytes`` (one copy of a few kilobytes); what
  stays in the buffer is at most one partial frame, moved to the front when the free tail gets short.
- A large frame goes into a buffer of at least its size from a ``BufferPool``: what arrived with the
  bytes before it is copied there, the rest is received straight into it, and it is returned as a
  read-only ``memoryview`` of that buffer: no zero-filled allocation (and no page faults on fresh
  memory) per frame. The buffer goes back to the pool as the frame is returned; the pool hands it out
  again only once nothing holds a view of it any more (Python refuses to resize a bytearray with live
  views, and the pool asks exactly that), so a frame, and any slice of it, stays valid for as long as
  anyone holds it.

Invariants:
- Frames come out in arrival order, each exactly once, whatever the chunking of the input.
- A size prefix below zero or above ``max_frame_bytes`` raises ``FrameTooLargeError`` (Kafka's
  ``socket.request.max.bytes``, default 104857600; Kafka's ``NetworkReceive`` rejects both the same
  way) once the frames before it have been returned. The decoder is then broken: every later
  ``next_frame`` raises the same error, because the stream has no resynchronisation point and the
  connection must be closed; bytes received after it are dropped.
- Work is linear in the bytes received; nothing here is shared between threads (one event loop owns a
  decoder and its pool).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Final

from riverlog.protocol.errors import FrameTooLargeError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_POOL_BYTES",
    "RECEIVE_BUFFER_BYTES",
    "SIZE_PREFIX_BYTES",
    "BufferPool",
    "FrameDecoder",
    "frame",
]

DEFAULT_MAX_FRAME_BYTES: Final = 104_857_600
"""Kafka's default ``socket.request.max.bytes``."""

SIZE_PREFIX_BYTES: Final = 4
RECEIVE_BUFFER_BYTES: Final = 128 * 1024
"""The per-decoder buffer small frames arrive in (allocated on first use)."""
DEFAULT_POOL_BYTES: Final = 32 * 1024 * 1024
"""How many bytes of idle large-frame buffers a pool keeps for reuse."""

_SIZE = struct.Struct(">i")
# Frames at least this big are received into a pooled buffer of their own and returned as views.
_LARGE_FRAME_BYTES: Final = 64 * 1024
# Move a partial frame to the front of the receive buffer once less than this is free behind it.
_MIN_READ_BYTES: Final = 16 * 1024
# Pooled buffers are sized in these steps, so frames of similar sizes share them.
_POOL_GRANULE: Final = 64 * 1024
_MAX_POOLED_BUFFERS: Final = 16


def frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Prefix ``payload`` with its size as a 4-byte big-endian integer."""
    return _SIZE.pack(len(payload)) + payload


class BufferPool:
    """Reusable buffers for large frames, so that receiving one allocates (and zero-fills, and
    page-faults in) nothing in the steady state. One event loop owns a pool; several decoders may
    share it. A buffer given back is handed out again only when no view of it is alive."""

    def __init__(self, max_bytes: int = DEFAULT_POOL_BYTES) -> None:
        self.max_bytes = max_bytes
        self._idle: list[bytearray] = []

    @property
    def idle_bytes(self) -> int:
        """Bytes held in buffers given back (some may still be viewed by a frame in use)."""
        return sum(len(buffer) for buffer in self._idle)

    def acquire(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes that nothing else uses (contents undefined)."""
        for i, buffer in enumerate(self._idle):
            if len(buffer) >= size and not _is_viewed(buffer):
                del self._idle[i]
                return buffer
        return bytearray(-(-size // _POOL_GRANULE) * _POOL_GRANULE)

    def give_back(self, buffer: bytearray) -> None:
        """Offer `buffer` for reuse (views of it may still be alive; see `acquire`)."""
        if len(buffer) + self.idle_bytes > self.max_bytes:
            return  # over budget: let it go
        if len(self._idle) >= _MAX_POOLED_BUFFERS:
            del self._idle[0]
        self._idle.append(buffer)


def _is_viewed(buffer: bytearray) -> bool:
    # A bytearray refuses to resize while any memoryview of it is alive, and that is exactly what
    # must not be overwritten. Shrinking by one byte then growing back never reallocates.
    try:
        del buffer[-1:]
    except BufferError:
        return True
    buffer.append(0)
    return False


class FrameDecoder:
    """Splits a byte stream into size-prefixed frames."""

    def __init__(
        self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, pool: BufferPool | None = None
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.pool = pool if pool is not None else BufferPool()
        # Small frames: received bytes are _buffer[_start:_end]; allocated on first use.
        self._buffer = bytearray()
        self._start = 0
        self._end = 0
        # The large frame being received: its pooled buffer, its size and how much has arrived.
        self._large: bytearray | None = None
        self._large_size = 0
        self._large_filled = 0
        # Whole frames not yet returned by next_frame, and their bytes (with size prefixes).
        self._frames: deque[bytes | memoryview] = deque()
        self._frames_bytes = 0
        self._error: FrameTooLargeError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as part of a frame (prefixes included)."""
        return self._end - self._start + self._large_filled + self._frames_bytes

    # --- bytes in ------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the transport (copied in)."""
        with memoryview(data) as whole, whole.cast("B") as view:
            taken = 0
            while taken < len(view):
                with self.get_buffer() as space:
                    size = min(len(space), len(view) - taken)
                    space[:size] = view[taken : taken + size]
                self.buffer_updated(size)
                taken += size

    def get_buffer(self, size_hint: int = -1) -> memoryview:
        """Writable space for the next bytes of the stream (never empty); report them with
        `buffer_updated`. The view must not be used after that call."""
        if self._large is not None:
            return memoryview(self._large)[self._large_filled : self._large_size]
        if not self._buffer:
            self._buffer = bytearray(RECEIVE_BUFFER_BYTES)
        if self._start == self._end or self._error is not None:
            self._start = self._end = 0
        elif len(self._buffer) - self._end < _MIN_READ_BYTES:
            self._move_partial_frame_to_front()
        return memoryview(self._buffer)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        """`nbytes` bytes were written at the start of the last `get_buffer` view."""
        if self._large is not None:
            self._large_filled += nbytes
            if self._large_filled == self._large_size:
                self._finish_large()
            return
        self._end += nbytes
        if self._error is None:
            self._split_frames()

    # --- frames out ----------------------------------------------------------------------------

    def next_frame(self) -> bytes | memoryview | None:
        """The next whole frame's payload (without its size prefix), or None if incomplete.

        Small frames are `bytes`; large ones read-only `memoryview`s of a pooled buffer."""
        if self._frames:
            payload = self._frames.popleft()
            self._frames_bytes -= len(payload) + SIZE_PREFIX_BYTES
            return payload
        if self._error is not None:
            raise self._error
        return None

    # --- internals -----------------------------------------------------------------------------

    def _split_frames(self) -> None:
        start, end = self._start, self._end
        with memoryview(self._buffer) as view:
            while end - start >= SIZE_PREFIX_BYTES:
                (size,) = _SIZE.unpack_from(view, start)
                if size < 0 or size > self.max_frame_bytes:
                    self._error = FrameTooLargeError(size, self.max_frame_bytes)
                    start = end  # nothing after a bad prefix can be framed
                    break
                begin = start + SIZE_PREFIX_BYTES
                if size >= _LARGE_FRAME_BYTES:  # into a pooled buffer, whole or not
                    start = min(end, begin + size)
                    self._start_large(view, size, begin, start)
                    if self._large is not None:
                        break
                elif end - begin >= size:
                    self._queue(bytes(view[begin : begin + size]))
                    start = begin + size
                else:
                    break
        if start == end:
            start = end = 0
        self._start, self._end = start, end

    def _queue(self, payload: bytes | memoryview) -> None:
        self._frames.append(payload)
        self._frames_bytes += len(payload) + SIZE_PREFIX_BYTES

    def _start_large(self, view: memoryview, size: int, begin: int, end: int) -> None:
        # The part already here moves into the frame's own buffer; the rest arrives straight there.
        large = self.pool.acquire(size)
        large[: end - begin] = view[begin:end]
        self._large, self._large_size, self._large_filled = large, size, end - begin
        if end - begin == size:
            self._finish_large()

    def _finish_large(self) -> None:
        large, size = self._large, self._large_size
        assert large is not None
        self._large, self._large_size, self._large_filled = None, 0, 0
        # Read-only: kio's native readers refuse writable buffers (and nothing should write a frame).
        with memoryview(large) as view:
            self._queue(view[:size].toreadonly())
        self.pool.give_back(large)  # reused only once this frame's views are gone

    def _move_partial_frame_to_front(self) -> None:
        partial = bytes(self._buffer[self._start : self._end])  # under one small frame
        self._buffer[: len(partial)] = partial
        self._start, self._end = 0, len(partial)
