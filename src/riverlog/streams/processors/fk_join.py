"""Foreign-key table join (Kafka Streams' KIP-213 design): `left.join(right, fk_extractor, joiner)`.

Flow: a left update sends a *subscription* (instruction, hash of the left value, primary key) keyed
by the foreign key to the subscription topic (co-partitioned with the right table); there the
subscription is stored under (fk, pk) and answered with the current right value on the *response*
topic keyed by the primary key (co-partitioned with the left table); a right update answers every
stored subscription of its key. The response side joins only when the hash in the response equals
the hash of the left row's current value, so responses to superseded left values (the foreign key
changed, the row was deleted) are dropped and results stay correct.

Invariants: subscription store key = 4-byte fk length | fk | pk (Kafka's `CombinedKey` layout), so
one fk's subscriptions are one prefix scan; instructions are Kafka's four; an inner join emits a
tombstone when the right value is missing and a left join emits `joiner(left, None)`.
Wire format of the internal topics: subscription = version 0 | instruction | 16-byte hash (or none)
| pk; response = version 0 | hash flag+16 bytes | right value. The hash is BLAKE2b-128 of the
serialized left value (Kafka uses murmur3-128: the topics are not read by Java Kafka Streams).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.records import Change, Record
from riverlog.streams.serdes import Serde

DELETE_KEY_AND_PROPAGATE = 0
DELETE_KEY_NO_PROPAGATE = 1
PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE = 2
PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE = 3
_I = struct.Struct(">i")


def value_hash(data: bytes | None) -> bytes | None:
    return None if data is None else hashlib.blake2b(data, digest_size=16).digest()


def combined_key(fk: bytes, pk: bytes) -> bytes:
    return _I.pack(len(fk)) + fk + pk


class _Serdes:
    """Serdes resolved at init (explicit, else the task's defaults)."""

    def __init__(self, serde: Serde[Any] | None, is_key: bool) -> None:
        self.serde = serde
        self.is_key = is_key

    def resolve(self, context: ProcessorContext) -> Serde[Any]:
        if self.serde is not None:
            return self.serde
        default = getattr(
            context, "default_key_serde" if self.is_key else "default_value_serde", None
        )
        if default is None:
            raise ValueError("a foreign-key join needs key and value serdes (or defaults)")
        return default  # type: ignore[no-any-return]


class SubscriptionSend(Processor):
    """Left table updates -> subscriptions keyed by foreign key (bytes in, bytes out)."""

    def __init__(
        self,
        extractor: Callable[[Any], Any],
        left_join: bool,
        pk_serde: _Serdes,
        fk_serde: _Serdes,
        value_serde: _Serdes,
        topic: str,
    ) -> None:
        self.extractor = extractor
        self.left_join = left_join
        self._pk, self._fk, self._v = pk_serde, fk_serde, value_serde
        self.topic = topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.pk = self._pk.resolve(context)
        self.fk = self._fk.resolve(context)
        self.v = self._v.resolve(context)

    def _send(self, fk: Any, instruction: int, h: bytes | None, pkb: bytes, record: Record) -> None:
        fkb = self.fk.serialize(self.topic, fk)
        if fkb is None:
            return
        body = bytes([0, instruction]) + (b"\x01" + h if h is not None else b"\x00") + pkb
        self.context.forward(Record(fkb, body, record.timestamp, record.headers))

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        pkb = self.pk.serialize(self.topic, record.key)
        if pkb is None:
            return
        new, old = change.new_value, change.old_value
        h = value_hash(self.v.serialize(self.topic, new)) if new is not None else None
        new_fk = None if new is None else self.extractor(new)
        old_fk = None if old is None else self.extractor(old)
        if old is not None:
            if new is not None:
                if self.fk.serialize(self.topic, new_fk) != self.fk.serialize(self.topic, old_fk):
                    if old_fk is not None:
                        self._send(old_fk, DELETE_KEY_NO_PROPAGATE, h, pkb, record)
                    if new_fk is not None:
                        self._send(new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE, h, pkb, record)
                elif new_fk is not None:
                    ins = (
                        PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE
                        if self.left_join
                        else PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE
                    )
                    self._send(new_fk, ins, h, pkb, record)
            elif old_fk is not None:
                self._send(old_fk, DELETE_KEY_AND_PROPAGATE, None, pkb, record)
        elif new is not None and new_fk is not None:
            ins = (
                PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE
                if self.left_join
                else PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE
            )
            self._send(new_fk, ins, h, pkb, record)


def _response(h: bytes | None, right: bytes | None) -> bytes:
    head = b"\x00" + (b"\x01" + h if h is not None else b"\x00")
    return head + (b"\x00" if right is None else b"\x01" + right)


def _parse_response(body: bytes) -> tuple[bytes | None, bytes | None]:
    h, rest = (body[2:18], body[18:]) if body[1] == 1 else (None, body[2:])
    return h, (rest[1:] if rest[0] == 1 else None)


def _parse_subscription(body: bytes) -> tuple[int, bytes | None, bytes]:
    instruction = body[1]
    if body[2] == 1:
        return instruction, body[3:19], body[19:]
    return instruction, None, body[3:]


class SubscriptionReceive(Processor):
    """Subscriptions (keyed by fk) -> stored; answered with the right table's current value."""

    def __init__(self, subscription_store: str, right_store: str) -> None:
        self.subscription_store = subscription_store
        self.right_store = right_store

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.subs = context.get_state_store(self.subscription_store)
        self.right = context.get_state_store(self.right_store)

    def process(self, record: Record) -> None:
        fkb: bytes = record.key
        instruction, h, pkb = _parse_subscription(record.value)
        ck = combined_key(fkb, pkb)
        rc = self.context.record_context
        if instruction in (DELETE_KEY_AND_PROPAGATE, DELETE_KEY_NO_PROPAGATE):
            self.subs.layer.put(ck, None, rc)
        else:
            self.subs.layer.put(ck, struct.pack(">q", record.timestamp) + record.value, rc)
        if instruction == DELETE_KEY_NO_PROPAGATE:
            return
        raw = self.right.layer.get(fkb)
        right = None if raw is None else raw[8:]
        if instruction == PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE and right is None:
            return
        self.context.forward(Record(pkb, _response(h, right), record.timestamp, record.headers))


class ForeignTableJoin(Processor):
    """Right table updates -> a response to every subscription of that foreign key."""

    def __init__(
        self, subscription_store: str, fk_serde: _Serdes, right_value_serde: _Serdes, topic: str
    ) -> None:
        self.subscription_store = subscription_store
        self._fk, self._rv = fk_serde, right_value_serde
        self.topic = topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.subs = context.get_state_store(self.subscription_store)
        self.fk = self._fk.resolve(context)
        self.rv = self._rv.resolve(context)

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        fkb = self.fk.serialize(self.topic, record.key)
        if fkb is None:
            return
        new = change.new_value
        right = None if new is None else self.rv.serialize(self.topic, new)
        prefix = _I.pack(len(fkb)) + fkb
        for ck, raw in list(self.subs.layer.range(prefix, _prefix_end(prefix))):
            pkb = ck[len(prefix) :]
            _, h, _ = _parse_subscription(raw[8:])
            self.context.forward(Record(pkb, _response(h, right), record.timestamp, record.headers))


def _prefix_end(p: bytes) -> bytes | None:
    b = bytearray(p)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


class ResponseJoin(Processor):
    """Responses (keyed by pk) -> the join result, if the left row still has the hashed value."""

    def __init__(
        self,
        left_store: str,
        joiner: Callable[[Any, Any], Any],
        left_join: bool,
        pk_serde: _Serdes,
        right_value_serde: _Serdes,
        topic: str,
    ) -> None:
        self.left_store = left_store
        self.joiner = joiner
        self.left_join = left_join
        self._pk, self._rv = pk_serde, right_value_serde
        self.topic = topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.left = context.get_state_store(self.left_store)
        self.pk = self._pk.resolve(context)
        self.rv = self._rv.resolve(context)

    def process(self, record: Record) -> None:
        h, right_b = _parse_response(record.value)
        raw = self.left.layer.get(record.key)
        current_hash = None if raw is None else value_hash(raw[8:])
        if h != current_hash:
            return  # a response to a superseded left value
        right = None if right_b is None else self.rv.deserialize(self.topic, right_b)
        pk = self.pk.deserialize(self.topic, record.key)
        if raw is None or (right is None and not self.left_join):
            result = None
        else:
            result = self.joiner(self.left._dv(raw[8:]), right)
        self.context.forward(Record(pk, Change(result, None), record.timestamp, record.headers))
