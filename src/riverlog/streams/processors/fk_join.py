"""Foreign-key table join (Kafka Streams' KIP-213 design): `left.join(right, fk_extractor, joiner)`.

Flow, node by node as Kafka Streams builds it:
1. `SubscriptionSend` (left table updates): a `SubscriptionWrapper` (instruction, murmur3 hash of the
   new left value, primary key, the left record's partition) keyed by the foreign key, to the
   subscription topic (co-partitioned with the right table).
2. `SubscriptionReceive`: stores it under CombinedKey(fk, pk) in the subscription store (deletes on the
   two DELETE instructions) and passes it on.
3. `SubscriptionJoin`: answers it with the right table's current value as a
   `SubscriptionResponseWrapper` keyed by the primary key, per the instruction.
4. `ForeignTableJoin` (right table updates): answers every stored subscription of that key (one prefix
   scan of the subscription store).
5. `ResponseJoin` (responses, co-partitioned with the left table): joins only if the hash in the
   response equals the hash of the left row's current value, so responses to superseded left values
   (the foreign key changed, the row was deleted) are dropped and results stay correct.

Invariants: internal topics and the subscription store hold Kafka's exact bytes (`fk_wire`); responses
go to the partition the subscription came from (`primary_partition`), unless `TableJoined` gives a
partitioner; every serialization uses the topic (or pseudo topic) Kafka uses, so schema-registry
serdes register the same subjects. The instructions sent are Kafka 3.x's (`SubscriptionSend`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.processors.fk_wire import (
    DELETE_KEY_AND_PROPAGATE,
    DELETE_KEY_NO_PROPAGATE,
    PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
    PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE,
    SubscriptionResponseWrapper,
    SubscriptionWrapper,
    combined_key,
    combined_key_prefix,
    subscription_version,
    value_hash,
)
from riverlog.streams.records import Change, Record
from riverlog.streams.serdes import Serde

log = logging.getLogger("riverlog.streams")


@dataclass(frozen=True, slots=True)
class Routed:
    """A pre-serialized internal-topic value, with what its sink's partitioner needs."""

    data: bytes
    partition: int | None  # the primary partition a response goes back to
    key: Any  # the deserialized key (for a user partitioner)


class RoutedSerde(Serde[Routed]):
    """The sink serde of the FK join's internal topics: the bytes are made by the processors."""

    name = "Routed"

    def serialize(self, topic: str, data: Routed | None) -> bytes | None:
        return None if data is None else data.data

    def deserialize(self, topic: str, data: bytes | None) -> Routed | None:
        raise NotImplementedError("the FK join's internal topics are read as raw bytes")


Partitioner = Callable[[str, Any, Any, int], "int | None"]


def response_partitioner(user: Partitioner | None) -> Partitioner:
    """Kafka's default: the partition the subscription came from; else the user's on the key."""
    if user is None:
        return lambda topic, key, value, n: value.partition
    return lambda topic, key, value, n: user(topic, value.key, None, n)


def subscription_partitioner(user: Partitioner | None) -> Partitioner | None:
    if user is None:
        return None  # the producer's murmur2 of the serialized foreign key, as Kafka's default
    return lambda topic, key, value, n: user(topic, value.key, None, n)


class SerdeRef:
    """A serde resolved at init (explicit, else the task's default key or value serde)."""

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


class _Topics:
    """The full internal topic names and Kafka's pseudo topics, known once the app id is."""

    def __init__(self, context: ProcessorContext, sub_topic: str, resp_topic: str) -> None:
        app = context.application_id
        self.sub = f"{app}-{sub_topic}"
        self.resp = f"{app}-{resp_topic}"
        self.pk = f"{self.sub}-pk"
        self.fk = f"{self.sub}-fk"
        self.vh = f"{self.sub}-vh"


def _drop(context: ProcessorContext, reason: str) -> None:
    rc = context.record_context
    log.warning(
        "Skipping record due to %s. topic=[%s] partition=[%s] offset=[%s]",
        reason,
        rc.topic,
        rc.partition,
        rc.offset,
    )
    context.record_dropped(context.current_node_name(), reason)


class SubscriptionSend(Processor):
    """Left table updates -> subscriptions keyed by foreign key (Kafka's `UnbindChangeProcessor`)."""

    def __init__(
        self,
        extractor: Callable[[Any], Any],
        left_join: bool,
        pk_serde: SerdeRef,
        fk_serde: SerdeRef,
        value_serde: SerdeRef,
        sub_topic: str,
        resp_topic: str,
    ) -> None:
        self.extractor = extractor
        self.left_join = left_join
        self._pk, self._fk, self._v = pk_serde, fk_serde, value_serde
        self.sub_topic, self.resp_topic = sub_topic, resp_topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.pk = self._pk.resolve(context)
        self.fk = self._fk.resolve(context)
        self.v = self._v.resolve(context)
        self.t = _Topics(context, self.sub_topic, self.resp_topic)
        config = getattr(context, "config", None) or {}
        self.version = subscription_version(config.get("upgrade.from"))

    def process(self, record: Record) -> None:
        change: Change[Any] = record.value
        self._hash: bytes | None = None
        self._hashed = False
        if self.left_join:
            self._left_join_instructions(record, change)
        else:
            self._inner_join_instructions(record, change)

    def _left_join_instructions(self, record: Record, change: Change[Any]) -> None:
        # Kafka's current leftJoinInstructions: the old subscription is dropped without a
        # response (DELETE_KEY_NO_PROPAGATE), and every change — a delete too, with a null FK —
        # sends one subscription whose response is the single left-join result or tombstone
        # (Kafka ≤ 3.6 propagated the delete as well, so a deleted row gave two tombstones;
        # ksqlDB's fk-join tests expect one)
        new, old = change.new_value, change.old_value
        if old is None and new is None:
            return  # an idempotent delete: no output
        old_fk = None if old is None else self.extractor(old)
        new_fk = None if new is None else self.extractor(new)
        if old_fk is not None and self._fk_bytes(new_fk) != self._fk_bytes(old_fk):
            self._forward(record, old_fk, DELETE_KEY_NO_PROPAGATE)
        self._forward(record, new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)

    def _inner_join_instructions(self, record: Record, change: Change[Any]) -> None:
        new, old = change.new_value, change.old_value
        if old is not None:
            old_fk = self.extractor(old)
            if old_fk is None:
                return _drop(self.context, "null foreign key")
            if new is None:
                return self._forward(record, old_fk, DELETE_KEY_AND_PROPAGATE)
            new_fk = self.extractor(new)
            if new_fk is None:
                return _drop(self.context, "null foreign key")
            if self._fk_bytes(new_fk) != self._fk_bytes(old_fk):
                # a different foreign key: unsubscribe the old one without a result
                self._forward(record, old_fk, DELETE_KEY_NO_PROPAGATE)
            # propagate null if the new fk has no value: the previous result must be unset
            self._forward(record, new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
        elif new is not None:
            new_fk = self.extractor(new)
            if new_fk is None:
                return _drop(self.context, "null foreign key")
            self._forward(record, new_fk, PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE)

    def _fk_bytes(self, fk: Any) -> bytes | None:
        return None if fk is None else self.fk.serialize(self.t.fk, fk)

    def _value_hash(self, record: Record) -> bytes | None:
        if not self._hashed:  # one hash per left update, however many subscriptions it sends
            new = record.value.new_value
            self._hash = None if new is None else value_hash(self.v.serialize(self.t.vh, new))
            self._hashed = True
        return self._hash

    def _forward(self, record: Record, fk: Any, instruction: int) -> None:
        pkb = self.pk.serialize(self.t.pk, record.key)
        if pkb is None:
            return _drop(self.context, "null primary key")
        partition = self.context.record_context.partition if self.version else None
        wrapper = SubscriptionWrapper(
            self._value_hash(record), instruction, pkb, partition, self.version
        )
        fkb = None if fk is None else self.fk.serialize(self.t.sub, fk)
        value = Routed(wrapper.serialize(), None, fk)
        self.context.forward(Record(fkb, value, record.timestamp, record.headers))


class SubscriptionReceive(Processor):
    """Subscriptions (keyed by fk) -> the subscription store, then on to `SubscriptionJoin`."""

    def __init__(
        self, subscription_store: str, fk_serde: SerdeRef, sub_topic: str, resp_topic: str
    ) -> None:
        self.subscription_store = subscription_store
        self._fk = fk_serde
        self.sub_topic, self.resp_topic = sub_topic, resp_topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.subs = context.get_state_store(self.subscription_store)
        self.fk = self._fk.resolve(context)
        self.t = _Topics(context, self.sub_topic, self.resp_topic)

    def process(self, record: Record) -> None:
        wrapper = SubscriptionWrapper.deserialize(record.value)
        if record.key is None:
            if wrapper.instruction != PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
                return _drop(self.context, "null foreign key")
            self.context.forward(Record(None, wrapper, record.timestamp, record.headers))
            return
        fk = self.fk.deserialize(self.t.sub, record.key)
        fkb = self.fk.serialize(self.t.fk, fk) or b""
        ck = combined_key(fkb, wrapper.primary_key)
        rc = self.context.record_context
        if wrapper.instruction in (DELETE_KEY_AND_PROPAGATE, DELETE_KEY_NO_PROPAGATE):
            self.subs.layer.put(ck, None, rc)
        else:  # a timestamped store: 8-byte timestamp | SubscriptionWrapper
            self.subs.layer.put(
                ck, record.timestamp.to_bytes(8, "big", signed=True) + record.value, rc
            )
        self.context.forward(Record(fk, wrapper, record.timestamp, record.headers))


def _response_record(
    t: _Topics,
    pk_serde: Serde[Any],
    fv_serde: Serde[Any],
    wrapper: SubscriptionWrapper,
    foreign_value: Any,
    record: Record,
    timestamp: int,
) -> Record:
    """A response to `wrapper`, keyed by its primary key (re-serialized for the response topic)."""
    pk = pk_serde.deserialize(t.pk, wrapper.primary_key)
    fvb = None if foreign_value is None else fv_serde.serialize(t.resp, foreign_value)
    body = SubscriptionResponseWrapper(wrapper.hash, fvb).serialize()
    value = Routed(body, wrapper.primary_partition, pk)
    return Record(pk_serde.serialize(t.resp, pk), value, timestamp, record.headers)


class SubscriptionJoin(Processor):
    """A received subscription -> a response with the right table's current value."""

    def __init__(
        self,
        right_store: str,
        pk_serde: SerdeRef,
        right_value_serde: SerdeRef,
        sub_topic: str,
        resp_topic: str,
    ) -> None:
        self.right_store = right_store
        self._pk, self._rv = pk_serde, right_value_serde
        self.sub_topic, self.resp_topic = sub_topic, resp_topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.right = context.get_state_store(self.right_store)
        self.pk = self._pk.resolve(context)
        self.rv = self._rv.resolve(context)
        self.t = _Topics(context, self.sub_topic, self.resp_topic)

    def process(self, record: Record) -> None:
        wrapper: SubscriptionWrapper = record.value
        instruction = wrapper.instruction
        if instruction == DELETE_KEY_NO_PROPAGATE:
            return
        foreign = None if record.key is None else self.right.get_with_timestamp(record.key)
        ts = record.timestamp if foreign is None else max(record.timestamp, foreign.timestamp)
        if instruction == DELETE_KEY_AND_PROPAGATE:
            fv = None
        elif instruction == PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE and foreign is None:
            return
        else:
            fv = None if foreign is None else foreign.value
        self.context.forward(_response_record(self.t, self.pk, self.rv, wrapper, fv, record, ts))


class ForeignTableJoin(Processor):
    """Right table updates -> a response to every subscription of that foreign key."""

    def __init__(
        self,
        subscription_store: str,
        fk_serde: SerdeRef,
        pk_serde: SerdeRef,
        right_value_serde: SerdeRef,
        sub_topic: str,
        resp_topic: str,
    ) -> None:
        self.subscription_store = subscription_store
        self._fk, self._pk, self._rv = fk_serde, pk_serde, right_value_serde
        self.sub_topic, self.resp_topic = sub_topic, resp_topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.subs = context.get_state_store(self.subscription_store)
        self.fk = self._fk.resolve(context)
        self.pk = self._pk.resolve(context)
        self.rv = self._rv.resolve(context)
        self.t = _Topics(context, self.sub_topic, self.resp_topic)

    def process(self, record: Record) -> None:
        if record.key is None:
            return _drop(self.context, "null key")
        change: Change[Any] = record.value
        prefix = combined_key_prefix(self.fk.serialize(self.t.fk, record.key) or b"")
        for _, raw in list(self.subs.layer.range(prefix, _prefix_end(prefix))):
            wrapper = SubscriptionWrapper.deserialize(raw[8:])
            self.context.forward(
                _response_record(
                    self.t, self.pk, self.rv, wrapper, change.new_value, record, record.timestamp
                )
            )


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
        pk_serde: SerdeRef,
        left_value_serde: SerdeRef,
        right_value_serde: SerdeRef,
        sub_topic: str,
        resp_topic: str,
    ) -> None:
        self.left_store = left_store
        self.joiner = joiner
        self.left_join = left_join
        self._pk, self._lv, self._rv = pk_serde, left_value_serde, right_value_serde
        self.sub_topic, self.resp_topic = sub_topic, resp_topic

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.left = context.get_state_store(self.left_store)
        self.pk = self._pk.resolve(context)
        self.lv = self._lv.resolve(context)
        self.rv = self._rv.resolve(context)
        self.t = _Topics(context, self.sub_topic, self.resp_topic)

    def process(self, record: Record) -> None:
        response = SubscriptionResponseWrapper.deserialize(record.value)
        pk = self.pk.deserialize(self.t.resp, record.key)
        current = self.left.get_with_timestamp(pk)
        current_hash = (
            None if current is None else value_hash(self.lv.serialize(self.t.vh, current.value))
        )
        if response.hash != current_hash:
            # a response to a superseded left value
            self.context.record_dropped(self.context.current_node_name(), "hash mismatch")
            return
        fv = response.foreign_value
        right = None if fv is None else self.rv.deserialize(self.t.resp, fv)
        if right is None and (not self.left_join or current is None):
            result = None  # a tombstone
        else:
            result = self.joiner(None if current is None else current.value, right)
        self.context.forward(Record(pk, Change(result, None), record.timestamp, record.headers))
