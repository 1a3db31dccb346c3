"""Exceptions raised by riverlog.storage (Kafka's error vocabulary, not wire codes).

StorageError
 +-- OffsetOutOfRangeError        offset below the log start offset or past the log end offset
 +-- RecordTooLargeError          a batch larger than max.message.bytes
 +-- CorruptRecordError           bad CRC, magic, size or a truncated batch (also a protocol one)
 +-- InvalidRecordError           a batch that breaks a rule (count, control from a client, malformed
 |                                records, a compacted topic's null key); may name the records
 +-- InvalidTimestampError        records outside message.timestamp.before/after.max.ms; names them
 +-- OutOfOrderSequenceError      idempotent producer sequence gap
 +-- InvalidProducerEpochError    producer epoch older than the last one seen
 +-- DuplicateSequenceError       a retry of one of the producer's last 5 batches (carries the original)
 +-- InvalidTxnStateError         non-transactional write while the producer's transaction is open
 +-- TransactionCoordinatorFencedError  a marker from an older coordinator epoch
 +-- InvalidConfigError           an unknown or invalid topic config (also a ValueError)
 +-- KafkaStorageError            the disk failed us (I/O error, unreadable checkpoint)

The broker maps each to its Kafka error code; storage never builds a response.
"""

from __future__ import annotations

from riverlog.protocol import errors as _protocol_errors
from riverlog.storage.append_result import AppendResult


class StorageError(Exception):
    """Base of every storage error."""


class OffsetOutOfRangeError(StorageError):
    """The requested offset is outside [log start offset, log end offset]."""


class RecordTooLargeError(StorageError):
    """A batch is larger than the topic's max.message.bytes."""


class CorruptRecordError(StorageError, _protocol_errors.CorruptRecordError):
    """A batch failed its size, magic or CRC check (Kafka's CORRUPT_MESSAGE)."""


# (index of the record in its batch, message): a produce response's record_errors.
RecordErrors = tuple[tuple[int, str | None], ...]


class InvalidRecordError(StorageError):
    """A batch that breaks a validation rule (Kafka's INVALID_RECORD).

    `record_errors` names the offending records where Kafka does (RecordValidationException)."""

    def __init__(self, message: str, record_errors: RecordErrors = ()) -> None:
        super().__init__(message)
        self.record_errors = record_errors


class InvalidTimestampError(StorageError):
    """Record timestamps outside the window the topic allows; `record_errors` names them."""

    def __init__(self, message: str, record_errors: RecordErrors = ()) -> None:
        super().__init__(message)
        self.record_errors = record_errors


class OutOfOrderSequenceError(StorageError):
    """An idempotent producer skipped or reused a sequence number."""


class InvalidProducerEpochError(StorageError):
    """A producer wrote with an epoch older than the last one seen (it was fenced)."""


class DuplicateSequenceError(StorageError):
    """A retry of a batch already in the log; `original` says where it was written.

    Kafka answers such a retry with success and the original offsets, not with an error."""

    def __init__(self, message: str, original: AppendResult) -> None:
        super().__init__(message)
        self.original = original


class InvalidTxnStateError(StorageError):
    """A non-transactional write from a producer whose transaction is still open."""


class TransactionCoordinatorFencedError(StorageError):
    """A transaction marker carried an older coordinator epoch than the last one seen."""


class InvalidConfigError(StorageError, ValueError):
    """A topic config name or value is not acceptable."""


class KafkaStorageError(StorageError):
    """An I/O failure; the log directory should be considered offline."""
