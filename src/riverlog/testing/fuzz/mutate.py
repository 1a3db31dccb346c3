"""Structure-aware corruptions of a generated request frame (see `generate.Frame` for the map).

Each mutation aims at one element the map locates: an array count set beyond the bytes left, a
string length past the end or below -1, a varint that never ends or is over-long, a tagged-field
section with an unknown, repeated, out-of-order or oversized tag, a record batch whose CRC is right
but whose contents are not (codec 5-7, garbage compressed payload, bad record framing, lying
counts), a header naming an unknown API key or version, or the frame cut short. `mutate` applies
one to three of them and returns the bytes (no size prefix) and their names.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from typing import Final

from crc32c import crc32c

from riverlog.testing.fuzz.generate import Frame, Slot, encode_uvarint

__all__ = ["MUTATIONS", "frame_with_prefix", "mutate"]

_HUGE_INT32: Final = (2**31 - 1, -(2**31), -2, 1 << 20, 1 << 24, 65_535)
_HUGE_UVARINTS: Final = (2**35 - 1, 2**32 - 1, 2**31, 1 << 20, 1 << 28)
_BAD_VARINTS: Final = (
    b"\xff" * 5,  # continuation on the fifth byte: kio takes at most five
    b"\xff" * 10,
    b"\x80\x80\x80\x80\x80\x00",  # over-long zero
    b"\xff\xff\xff\xff\x7f",  # 2**35 - 1
    b"\x80",  # cut inside
)
_BATCH_HEADER: Final = 61


def _splice(data: bytearray, slot: Slot, new: bytes) -> None:
    data[slot.start : slot.start + slot.size] = new


def _pick(rng: random.Random, frame: Frame, data: bytearray, *kinds: str) -> Slot | None:
    """A slot of one of `kinds` still inside `data` (an earlier mutation may have cut it)."""
    slots = [s for s in frame.slots if s.kind in kinds and s.start + s.size <= len(data)]
    return rng.choice(slots) if slots else None


def truncate(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    if rng.random() < 0.5 and frame.slots:
        slot = rng.choice(frame.slots)
        cut = slot.start + rng.randint(0, slot.size)
    else:
        cut = rng.randint(0, len(data))
    del data[cut:]
    return True


def oversized_count(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "count", "compact_count")
    if slot is None:
        return False
    if slot.kind == "count":
        _splice(data, slot, struct.pack(">i", rng.choice(_HUGE_INT32)))
    else:
        _splice(data, slot, encode_uvarint(rng.choice(_HUGE_UVARINTS)))
    return True


def oversized_length(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "length", "compact_length")
    if slot is None:
        return False
    past_end = len(data) - slot.start + rng.randint(0, 64)
    if slot.kind == "length":
        value = rng.choice((*_HUGE_INT32, past_end, -2, -32768))
        fmt = ">h" if slot.size == 2 else ">i"
        value = max(-32768, min(32767, value)) if fmt == ">h" else value
        _splice(data, slot, struct.pack(fmt, value))
    else:
        _splice(data, slot, encode_uvarint(rng.choice((*_HUGE_UVARINTS, past_end))))
    return True


def bad_varint(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "compact_count", "compact_length", "tags")
    if slot is None:
        return False
    bad = rng.choice(_BAD_VARINTS)
    if slot.kind == "tags":
        data[slot.start : slot.start + 1] = bad
    else:
        _splice(data, slot, bad)
    return True


def wrong_tags(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "tags")
    if slot is None:
        return False
    tag = rng.choice((0, 1, 2, 3, 42, 2**31 - 1, 2**32 - 1))
    size = rng.choice((0, 1, 4, 255, 1 << 20, 2**32 - 1))
    one = encode_uvarint(tag) + encode_uvarint(size) + rng.randbytes(min(size, rng.randint(0, 8)))
    shapes = (
        b"\x01" + one,  # one tag, maybe unknown, its size maybe past the end
        b"\x02" + one + one,  # the same tag twice
        b"\x02\x05\x00\x01\x00",  # out of order
        encode_uvarint(rng.choice(_HUGE_UVARINTS)) + one,  # a huge tag count
    )
    _splice(data, slot, rng.choice(shapes))
    return True


def corrupt_batch(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "records")
    if slot is None or slot.size < _BATCH_HEADER:
        return False
    batch = bytearray(data[slot.start : slot.start + slot.size])
    choice = rng.randrange(7)
    if choice == 0:  # codec 5-7, CRC right
        batch[22] = (batch[22] & 0xF8) | rng.randint(5, 7)
    elif choice == 1:  # a gzip (or other) batch whose payload is garbage
        batch[22] = (batch[22] & 0xF8) | rng.randint(1, 4)
        garbage = rng.choice((rng.randbytes(24), b"\x1f\x8b\x08\x00garbage!", zlib.compress(b"x")))
        batch[_BATCH_HEADER:] = garbage
    elif choice == 2:  # inner record framing broken
        for _ in range(rng.randint(1, 4)):
            if len(batch) > _BATCH_HEADER:
                batch[rng.randrange(_BATCH_HEADER, len(batch))] = rng.randrange(256)
    elif choice == 3:  # a lying record count
        batch[57:61] = struct.pack(">i", rng.choice(_HUGE_INT32))
    elif choice == 4:  # a lying batch length (not covered by the CRC)
        batch[8:12] = struct.pack(">i", rng.choice((*_HUGE_INT32, len(batch))))
    elif choice == 5:  # another magic
        batch[16] = rng.choice((0, 1, 3, 255))
    else:  # a wrong CRC
        batch[17] = batch[17] ^ 0xFF
        _splice(data, slot, bytes(batch))
        return True
    if choice != 4:
        batch[17:21] = struct.pack(">I", crc32c(bytes(batch[21:])))
    batch[8:12] = batch[8:12] if choice == 4 else struct.pack(">i", len(batch) - 12)
    _splice(data, slot, bytes(batch))
    return True


def bad_header(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    if len(data) < 10:
        return False
    choice = rng.randrange(4)
    if choice == 0:  # an api key kio does not know
        data[0:2] = struct.pack(">h", rng.choice((-1, 71, 99, 1000, 32767)))
    elif choice == 1:  # a version above (or below) what kio knows
        data[2:4] = struct.pack(">h", rng.choice((-1, frame.version + 1, 100, 32767)))
    elif choice == 2:  # a client id length past the end or below -1
        data[8:10] = struct.pack(">h", rng.choice((-2, 32767, len(data))))
    else:  # another api's body
        data[0:2] = struct.pack(">h", rng.randrange(0, 70))
    return True


def extreme_int(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    slot = _pick(rng, frame, data, "int")
    if slot is None:
        return False
    fill = rng.choice((b"\xff", b"\x7f", b"\x80", b"\x00"))
    new = (fill + (b"\xff" if fill == b"\x7f" else fill) * (slot.size - 1))[: slot.size]
    _splice(data, slot, new)
    return True


def flip_bytes(rng: random.Random, frame: Frame, data: bytearray) -> bool:
    if not data:
        return False
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return True


Mutation = Callable[[random.Random, Frame, bytearray], bool]
MUTATIONS: Final[dict[str, Mutation]] = {
    "truncate": truncate,
    "oversized_count": oversized_count,
    "oversized_length": oversized_length,
    "bad_varint": bad_varint,
    "wrong_tags": wrong_tags,
    "corrupt_batch": corrupt_batch,
    "bad_header": bad_header,
    "extreme_int": extreme_int,
    "flip_bytes": flip_bytes,
}
_NAMES: Final = tuple(MUTATIONS)


def mutate(rng: random.Random, frame: Frame) -> tuple[bytes, list[str]]:
    """One to three mutations of `frame` (slots located in the original; later ones may land on
    shifted bytes, which is more fuzz, not less). Returns the bytes without a size prefix."""
    data = bytearray(frame.data)
    applied: list[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choice(_NAMES)
        if MUTATIONS[name](rng, frame, data):
            applied.append(name)
    if not applied:
        truncate(rng, frame, data)
        applied.append("truncate")
    return bytes(data), applied


def frame_with_prefix(rng: random.Random, body: bytes, *, lie: bool = False) -> bytes:
    """The size prefix: the true size, or with ``lie`` a false one (too big, negative, short)."""
    size = len(body)
    if lie:
        size = rng.choice((-1, 2**31 - 1, 100 * 1024 * 1024 + 1, max(size - 3, 0), size + 10))
    return struct.pack(">i", size) + body
