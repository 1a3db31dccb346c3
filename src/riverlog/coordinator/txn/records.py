"""`__transaction_state` records in Kafka's TransactionLog format.

Format (Kafka's TransactionLogKey / TransactionLogValue, written at version 0, non-flexible):
- key: int16 version 0, string transactional_id.
- value: int16 version, int64 producer_id, int16 producer_epoch, int32 transaction_timeout_ms,
  int8 transaction_status (TxnState), nullable array of (string topic, int32 array partition_ids),
  int64 last_update_timestamp_ms, int64 start_timestamp_ms. Version 1 is the flexible form of the
  same fields (its tagged fields are skipped). A null value is a tombstone (the id expired).

Invariants: encode_record/decode_record round-trip; unknown key versions are CorruptRecordError.
"""

from __future__ import annotations

from dataclasses import dataclass

from riverlog.coordinator.group.wire import Reader, Writer
from riverlog.coordinator.txn.state import TransactionMetadata, TxnState
from riverlog.protocol.errors import CorruptRecordError

KEY_VERSION = 0
VALUE_VERSION = 0
FLEXIBLE_VALUE_VERSION = 1


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


def encode_value(meta: TransactionMetadata) -> bytes:
    out = Writer()
    out.i16(VALUE_VERSION)
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
    out.i64(meta.last_update_ms)
    out.i64(meta.start_ms)
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
    return TransactionMetadata(
        transactional_id,
        producer_id,
        epoch,
        timeout,
        state,
        frozenset(partitions),
        start,
        last_update,
    )
