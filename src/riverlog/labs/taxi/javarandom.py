"""`java.util.Random`, bit for bit, and `Collections.shuffle` — flink-training derives every ride and fare
from `new Random(rideId)`, so reproducing its events means reproducing Java's generator exactly.

Facts from the JDK's specification of `java.util.Random` (not its code): a 48-bit linear congruential
generator with multiplier 0x5DEECE66D and addend 0xB; the seed is scrambled with the multiplier on
construction; `next(bits)` returns the top `bits` of the new state as a signed 32-bit int; `nextInt(bound)`
rejects the values that would bias the modulus; `nextGaussian` is the polar method that caches its second
value. `Collections.shuffle(list, rnd)` swaps element i-1 with `rnd.nextInt(i)` for i from size down to 2.
"""

from __future__ import annotations

import math
import struct
from typing import TypeVar

_MULTIPLIER = 0x5DEECE66D
_ADDEND = 0xB
_MASK = (1 << 48) - 1
_FLOAT_MAX = (2 - 2.0**-23) * 2.0**127

T = TypeVar("T")


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def to_float32(value: float) -> float:
    """Round a Python float (a double) to the nearest IEEE single, as Java's `(float)` cast does."""
    try:
        result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond the largest float: IEEE rounds to it up to half an ulp above
        magnitude = _FLOAT_MAX if abs(value) < 2.0**128 - 2.0**103 else math.inf
        return math.copysign(magnitude, value)
    return result


class JavaRandom:
    """`new java.util.Random(seed)`."""

    __slots__ = ("_next_next_gaussian", "_seed")

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ _MULTIPLIER) & _MASK
        self._next_next_gaussian: float | None = None

    def next(self, bits: int) -> int:
        self._seed = (self._seed * _MULTIPLIER + _ADDEND) & _MASK
        return _int32(self._seed >> (48 - bits))

    def next_int(self, bound: int | None = None) -> int:
        if bound is None:
            return self.next(32)
        if bound <= 0:
            raise ValueError("bound must be positive")
        r = self.next(31)
        m = bound - 1
        if bound & m == 0:  # a power of two: take the high bits
            return _int32((bound * r) >> 31)
        u = r
        r = u % bound
        while _int32(u - r + m) < 0:  # Java's int overflow marks a biased draw
            u = self.next(31)
            r = u % bound
        return r

    def next_long(self) -> int:
        value = (self.next(32) << 32) + self.next(32)
        value &= 0xFFFFFFFFFFFFFFFF
        return value - (1 << 64) if value >> 63 else value

    def next_boolean(self) -> bool:
        return self.next(1) != 0

    def next_float(self) -> float:
        return self.next(24) / float(1 << 24)

    def next_double(self) -> float:
        return ((self.next(26) << 27) + self.next(27)) * (1.0 / (1 << 53))

    def next_gaussian(self) -> float:
        if self._next_next_gaussian is not None:
            value, self._next_next_gaussian = self._next_next_gaussian, None
            return value
        while True:
            v1 = 2 * self.next_double() - 1
            v2 = 2 * self.next_double() - 1
            s = v1 * v1 + v2 * v2
            if 0 < s < 1:
                break
        multiplier = math.sqrt(-2 * math.log(s) / s)
        self._next_next_gaussian = v2 * multiplier
        return v1 * multiplier


def java_shuffle(items: list[T], rnd: JavaRandom) -> None:
    """`Collections.shuffle(items, rnd)` for a random-access list, in place."""
    for i in range(len(items), 1, -1):
        j = rnd.next_int(i)
        items[i - 1], items[j] = items[j], items[i - 1]


def java_round(value: float) -> int:
    """`Math.round(double)`: the closest long, ties towards positive infinity."""
    return math.floor(value + 0.5) if not math.isnan(value) else 0


def java_float_str(value: float) -> str:
    """`Float.toString(f)`: the shortest decimal that reads back as the same float, in Java's notation."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    target = to_float32(value)
    for digits in range(1, 10):
        text = f"{target:.{digits}g}"
        if to_float32(float(text)) == target:
            break
    mantissa, _, exponent = f"{float(text):.{digits}e}".partition("e")
    exp = int(exponent)
    sign = "-" if mantissa.startswith("-") else ""
    digits_only = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if 1e-3 <= abs(target) < 1e7:
        point = exp + 1  # digits before the decimal point
        if point <= 0:
            whole, frac = "0", "0" * -point + digits_only
        elif point >= len(digits_only):
            whole, frac = digits_only + "0" * (point - len(digits_only)), "0"
        else:
            whole, frac = digits_only[:point], digits_only[point:]
        return f"{sign}{whole}.{frac}"
    frac = digits_only[1:] or "0"
    return f"{sign}{digits_only[0]}.{frac}E{exp}"
