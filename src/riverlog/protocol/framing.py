"""Sans-IO framing of the Kafka wire protocol: a 4-byte big-endian size, then that many bytes.

Every request and response on a Kafka connection is one such frame. ``FrameDecoder`` takes bytes as
the transport delivers them (``receive_data``) and hands back whole frames (``next_frame``); it
never touches a socket, so the asyncio layer only moves bytes (h11's ``receive_data`` /
``next_event`` shape).

Invariants:
- Frames come out in arrival order, each exactly once, whatever the chunking of the input.
- A size prefix below zero or above ``max_frame_bytes`` raises ``FrameTooLargeError`` (Kafka's
  ``socket.request.max.bytes``, default 104857600; Kafka's ``NetworkReceive`` rejects both the same
  way). The decoder is then broken: every later ``next_frame`` raises the same error, because the
  stream has no resynchronisation point and the connection must be closed.
- Work is linear in the bytes received. Small frames are sliced out of one growing buffer whose
  consumed prefix is dropped in amortised O(1); a frame above ``_LARGE_FRAME_BYTES`` gets its own
  buffer, allocated once at its final size and filled in place, and is returned as a
  ``memoryview`` of that buffer without a further copy.
"""

from __future__ import annotations

import struct
from typing import Final

from riverlog.protocol.errors import FrameTooLargeError

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "SIZE_PREFIX_BYTES", "FrameDecoder", "frame"]

DEFAULT_MAX_FRAME_BYTES: Final = 104_857_600
"""Kafka's default ``socket.request.max.bytes``."""

SIZE_PREFIX_BYTES: Final = 4

_SIZE = struct.Struct(">i")
# Frames at least this big get a dedicated, pre-sized buffer instead of the shared one.
_LARGE_FRAME_BYTES: Final = 64 * 1024
# Drop the consumed prefix of the shared buffer once it is this big (and over half the buffer).
_COMPACT_BYTES: Final = 64 * 1024


def frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Prefix ``payload`` with its size as a 4-byte big-endian integer."""
    return _SIZE.pack(len(payload)) + payload


class FrameDecoder:
    """Splits a byte stream into size-prefixed frames."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._start = 0
        # The large frame being filled (pre-sized) and how many of its bytes have arrived.
        self._large: bytearray | None = None
        self._large_filled = 0
        self._error: FrameTooLargeError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as part of a frame (prefixes included)."""
        return len(self._buffer) - self._start + self._large_filled

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the transport."""
        view = memoryview(data).cast("B")
        if self._large is not None:
            view = self._fill_large(view)
        if view:
            self._buffer += view

    def next_frame(self) -> bytes | memoryview | None:
        """The next whole frame's payload (without its size prefix), or None if incomplete."""
        if self._error is not None:
            raise self._error
        if self._large is not None:
            return self._maybe_take_large()
        available = len(self._buffer) - self._start
        if available < SIZE_PREFIX_BYTES:
            self._maybe_compact()
            return None
        size = self._read_size()
        if available - SIZE_PREFIX_BYTES >= size:
            return self._take_small(size)
        if size >= _LARGE_FRAME_BYTES:
            self._start_large(size)
        return None

    def _read_size(self) -> int:
        (size,) = _SIZE.unpack_from(self._buffer, self._start)
        if size < 0 or size > self.max_frame_bytes:
            self._error = FrameTooLargeError(size, self.max_frame_bytes)
            raise self._error
        return int(size)

    def _take_small(self, size: int) -> bytes:
        begin = self._start + SIZE_PREFIX_BYTES
        with memoryview(self._buffer) as view:
            payload = bytes(view[begin : begin + size])
        self._start = begin + size
        self._maybe_compact()
        return payload

    def _maybe_compact(self) -> None:
        # Deleting a bytearray's prefix only moves its start pointer, so this is cheap.
        if self._start == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        elif self._start >= _COMPACT_BYTES and self._start * 2 >= len(self._buffer):
            del self._buffer[: self._start]
            self._start = 0

    def _start_large(self, size: int) -> None:
        # Move the partial frame into a buffer of its final size; the rest arrives straight there.
        begin = self._start + SIZE_PREFIX_BYTES
        self._large = bytearray(size)
        with memoryview(self._buffer) as view, view[begin:] as partial:
            self._large[: len(partial)] = partial
            self._large_filled = len(partial)
        self._buffer.clear()
        self._start = 0

    def _fill_large(self, view: memoryview) -> memoryview:
        assert self._large is not None
        take = min(len(view), len(self._large) - self._large_filled)
        self._large[self._large_filled : self._large_filled + take] = view[:take]
        self._large_filled += take
        return view[take:]

    def _maybe_take_large(self) -> memoryview | None:
        assert self._large is not None
        if self._large_filled < len(self._large):
            return None
        # Read-only: kio's native readers refuse writable buffers (and nothing should write a frame).
        payload = memoryview(self._large).toreadonly()
        self._large = None
        self._large_filled = 0
        return payload
