"""`__transaction_state` records in Kafka's TransactionLog format.

Format (Kafka's TransactionLogKey / TransactionLogValue, written at version 0, non-flexible):
- key: int16 version 0, string transactional_id.
- value: int16 version, int64 producer_id, int16 producer_epoch, int32 transaction_timeout_ms,
  int8 transaction_status (TxnState), nullable array of (string topic, int32 array partition_ids),
  int64 last_update_timestamp_ms, int64 start_timestamp_ms. Version 1 is the flexible form of the
  same fields plus the transactions V2 tagged fields: 0 PreviousProducerId int64, 1 NextProducerId
  int64, 2 ClientTransactionVersion int16 (each left out at its default, -1 / -1 / 0). Version 1 is
  written only when one of them is set, as Kafka does for V2 transactions. A null value is a
  tombstone (the id expired).

Invariants: encode_record/decode_record round-trip; unknown key versions are CorruptRecordError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from riverlog.coordinator.group.wire import Reader, Writer
from riverlog.coordinator.txn.state import TransactionMetadata, TxnState
from riverlog.protocol.errors import CorruptRecordError

KEY_VERSION = 0
VALUE_VERSION = 0
FLEXIBLE_VALUE_VERSION = 1
PREVIOUS_PRODUCER_ID_TAG, NEXT_PRODUCER_ID_TAG, CLIENT_TRANSACTION_VERSION_TAG = 0, 1, 2
_I64 = struct.Struct(">q")
_I16 = struct.Struct(">h")


@dataclass(frozen=True, slots=True)
class TransactionLogRecord:
    """One transactional id's metadata; `value` None is a tombstone."""

    transactional_id: str
    value: TransactionMetadata | None


def encode_record(record: TransactionLogRecord) -> tuple[bytes, bytes | None]:
    key = Writer()
    key.i16(KEY_VERSION)
    key.string(record.transactional_id)
    value = None if record.value is None else encode_value(record.value)
    return bytes(key.out), value


def _tagged(meta: TransactionMetadata) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    if meta.previous_producer_id != -1:
        fields[PREVIOUS_PRODUCER_ID_TAG] = _I64.pack(meta.previous_producer_id)
    if meta.next_producer_id != -1:
        fields[NEXT_PRODUCER_ID_TAG] = _I64.pack(meta.next_producer_id)
    if meta.client_transaction_version != 0:
        fields[CLIENT_TRANSACTION_VERSION_TAG] = _I16.pack(meta.client_transaction_version)
    return fields


def encode_value(meta: TransactionMetadata) -> bytes:
    tagged = _tagged(meta)
    flexible = bool(tagged)
    out = Writer(flexible=flexible)
    out.i16(FLEXIBLE_VALUE_VERSION if flexible else VALUE_VERSION)
    out.i64(meta.producer_id)
    out.i16(meta.producer_epoch)
    out.i32(meta.timeout_ms)
    out.i8(int(meta.state))
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(meta.partitions):
        by_topic.setdefault(topic, []).append(partition)
    out.length(len(by_topic), True)
    for topic, partitions in by_topic.items():
        out.string(topic)
        out.int32s(partitions)
        out.tags()
    out.i64(meta.last_update_ms)
    out.i64(meta.start_ms)
    out.tags(tagged)
    return bytes(out.out)


def decode_record(key: bytes | None, value: bytes | None) -> TransactionLogRecord:
    if key is None:
        raise CorruptRecordError("__transaction_state record without a key")
    reader = Reader(key)
    version = reader.i16()
    if version != KEY_VERSION:
        raise CorruptRecordError(f"unknown TransactionLogKey version {version}")
    txn_id = reader.string()
    return TransactionLogRecord(txn_id, None if value is None else decode_value(txn_id, value))


def decode_value(transactional_id: str, data: bytes) -> TransactionMetadata:
    version = Reader(data).i16()
    if version not in (VALUE_VERSION, FLEXIBLE_VALUE_VERSION):
        raise CorruptRecordError(f"unknown TransactionLogValue version {version}")
    reader = Reader(data, flexible=version >= FLEXIBLE_VALUE_VERSION)
    reader.i16()
    producer_id, epoch, timeout = reader.i64(), reader.i16(), reader.i32()
    try:
        state = TxnState(reader.i8())
    except ValueError as exc:
        raise CorruptRecordError(f"unknown transaction status: {exc}") from exc
    partitions: set[tuple[str, int]] = set()
    for _ in range(max(reader.count(), 0)):
        topic = reader.string()
        partitions.update((topic, p) for p in reader.int32s())
        if version >= FLEXIBLE_VALUE_VERSION:
            reader.skip_tags()
    last_update, start = reader.i64(), reader.i64()
    tags = reader.tags()
    try:
        return TransactionMetadata(
            transactional_id,
            producer_id,
            epoch,
            timeout,
            state,
            frozenset(partitions),
            start,
            last_update,
            previous_producer_id=_tag(tags, PREVIOUS_PRODUCER_ID_TAG, _I64, -1),
            next_producer_id=_tag(tags, NEXT_PRODUCER_ID_TAG, _I64, -1),
            client_transaction_version=_tag(tags, CLIENT_TRANSACTION_VERSION_TAG, _I16, 0),
        )
    except struct.error as exc:
        raise CorruptRecordError(f"bad TransactionLogValue tagged field: {exc}") from exc


def _tag(tags: dict[int, bytes], tag: int, layout: struct.Struct, default: int) -> int:
    raw = tags.get(tag)
    return default if raw is None else int(layout.unpack(raw)[0])
