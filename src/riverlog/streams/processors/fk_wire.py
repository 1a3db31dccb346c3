"""The foreign-key join's wire formats, byte for byte Kafka Streams' (3.x, `kstream/internals/
foreignkeyjoin/`), so a Java Kafka Streams app and riverlog read each other's internal topics.

- **Hash**: Kafka's `Murmur3.hash128` (MurmurHash3 x64 128-bit, seed 104729) of the serialized left
  value, as two signed longs `(h1, h2)`, written big-endian `h1 | h2`.
- **SubscriptionWrapper** (value of `…-SUBSCRIPTION-REGISTRATION-<n>-topic` and of the subscription
  store): `{1 bit hash-is-null}{7 bits version}{1 byte instruction}{16 bytes hash, absent if null}
  {primary key}{v1+: 4-byte primary partition}`. Version 1 is current; version 0 has no partition
  and is written while `upgrade.from` names Kafka 3.3 or older, as Kafka does.
- **SubscriptionResponseWrapper** (value of `…-SUBSCRIPTION-RESPONSE-<n>-topic`): `{1 bit
  hash-is-null}{7 bits version 0}{16 bytes hash, absent if null}{foreign value, absent if null}`. The
  primary partition is not serialized: it only routes the response (the sink's partitioner).
- **CombinedKey** (key of the subscription store): `{4-byte fk length}{fk}{pk}`.
- Instructions: DELETE_KEY_NO_PROPAGATE 0, DELETE_KEY_AND_PROPAGATE 1,
  PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE 2, PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE 3.
- Keys inside the wrappers are serialized with Kafka's pseudo topics: the subscription topic's full
  name (`<application.id>-…-topic`) plus `-pk` (primary key), `-fk` (foreign key in the combined key)
  and `-vh` (the value that is hashed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import mmh3

from riverlog.streams.errors import StreamsException

DELETE_KEY_NO_PROPAGATE = 0
DELETE_KEY_AND_PROPAGATE = 1
PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE = 2
PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE = 3
INSTRUCTIONS = frozenset(range(4))

SUBSCRIPTION_VERSION = 1  # SubscriptionWrapper.CURRENT_VERSION
RESPONSE_VERSION = 0  # SubscriptionResponseWrapper.CURRENT_VERSION
MURMUR3_DEFAULT_SEED = 104729  # Kafka's Murmur3.DEFAULT_SEED

# `upgrade.from` values whose Kafka Streams only reads SubscriptionWrapper v0 (Kafka's
# SubscriptionWrapperSerde writes v0 while a rolling upgrade from them is under way)
UPGRADE_FROM_V0 = frozenset(
    ["0.10.0", "0.10.1", "0.10.2", "0.11.0", "1.0", "1.1"]
    + [f"2.{m}" for m in range(9)]
    + [f"3.{m}" for m in range(4)]
)

_HASH = struct.Struct(">qq")
_INT = struct.Struct(">i")


def subscription_version(upgrade_from: object) -> int:
    """The SubscriptionWrapper version to write under `upgrade.from` (None: the current one)."""
    return 0 if upgrade_from is not None and str(upgrade_from) in UPGRADE_FROM_V0 else 1


def murmur3_hash128(data: bytes, seed: int = MURMUR3_DEFAULT_SEED) -> tuple[int, int]:
    """Kafka's `Murmur3.hash128(data, 0, len, seed)`: the two longs, signed as in Java."""
    h1, h2 = mmh3.hash64(data, seed, x64arch=True, signed=True)
    return h1, h2


def value_hash(data: bytes | None) -> bytes | None:
    """The 16 bytes a wrapper carries for a serialized value (None for a null value)."""
    return None if data is None else _HASH.pack(*murmur3_hash128(data))


def combined_key(fk: bytes, pk: bytes) -> bytes:
    return _INT.pack(len(fk)) + fk + pk


def combined_key_prefix(fk: bytes) -> bytes:
    return _INT.pack(len(fk)) + fk


def split_combined_key(data: bytes) -> tuple[bytes, bytes]:
    """(fk bytes, pk bytes) of a CombinedKey."""
    (n,) = _INT.unpack_from(data)
    return data[4 : 4 + n], data[4 + n :]


@dataclass(frozen=True, slots=True)
class SubscriptionWrapper:
    hash: bytes | None  # 16 bytes or None
    instruction: int
    primary_key: bytes  # serialized with the `-pk` pseudo topic
    primary_partition: int | None = None
    version: int = SUBSCRIPTION_VERSION

    def serialize(self) -> bytes:
        if self.version not in (0, 1):
            raise StreamsException(f"Unsupported SubscriptionWrapper version {self.version}")
        if self.instruction not in INSTRUCTIONS:
            raise StreamsException(f"Unknown instruction byte value = {self.instruction}")
        head = bytes([self.version | (0x80 if self.hash is None else 0), self.instruction]) + (
            self.hash or b""
        )
        if self.version == 0:
            return head + self.primary_key
        if self.primary_partition is None:
            raise StreamsException("SubscriptionWrapper v1 needs a primary partition")
        return head + self.primary_key + _INT.pack(self.primary_partition)

    @classmethod
    def deserialize(cls, data: bytes) -> SubscriptionWrapper:
        if len(data) < 2:
            raise StreamsException(f"SubscriptionWrapper too short ({len(data)} bytes)")
        version = data[0] & 0x7F
        if version > SUBSCRIPTION_VERSION:
            raise StreamsException("SubscriptionWrapper is of an incompatible version.")
        instruction = data[1]
        if instruction not in INSTRUCTIONS:
            raise StreamsException(f"Unknown instruction byte value = {instruction}")
        pos = 2
        h: bytes | None = None
        if not data[0] & 0x80:
            h = data[2:18]
            pos = 18
        if version == 0:
            return cls(h, instruction, data[pos:], None, 0)
        end = len(data) - 4
        return cls(h, instruction, data[pos:end], _INT.unpack_from(data, end)[0], version)


@dataclass(frozen=True, slots=True)
class SubscriptionResponseWrapper:
    hash: bytes | None
    foreign_value: bytes | None  # serialized with the response topic's name
    primary_partition: int | None = None  # routing only, not serialized
    version: int = RESPONSE_VERSION

    def serialize(self) -> bytes:
        if self.version < 0 or self.version > 0x7F:
            raise StreamsException(
                f"Unsupported SubscriptionResponseWrapper version {self.version}"
            )
        first = bytes([self.version | (0x80 if self.hash is None else 0)])
        return first + (self.hash or b"") + (self.foreign_value or b"")

    @classmethod
    def deserialize(cls, data: bytes) -> SubscriptionResponseWrapper:
        if not data:
            raise StreamsException("SubscriptionResponseWrapper is empty")
        version = data[0] & 0x7F
        if version != RESPONSE_VERSION:
            raise StreamsException("SubscriptionResponseWrapper is of an incompatible version.")
        h, pos = (None, 1) if data[0] & 0x80 else (data[1:17], 17)
        # Kafka reads zero remaining bytes as a null foreign value
        return cls(h, data[pos:] if len(data) > pos else None, None, version)
