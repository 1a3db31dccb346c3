"""The worker's side of KIP-618's `TransactionContext` (Kafka's `WorkerTransactionContext`).

The task's thread asks for commits and aborts; the same thread (the source task loop) reads the
requests after sending each record and after each poll's records. Records are told apart by identity
(the object the task returned). Asking to both commit and abort one record, or one batch, fails the
task: the alternative may lose data.
"""

from __future__ import annotations

import threading

from riverlog.connect.api import SourceRecord, TransactionContext
from riverlog.connect.errors import ConnectException


class WorkerTransactionContext(TransactionContext):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commit_records: dict[int, SourceRecord] = {}
        self._abort_records: dict[int, SourceRecord] = {}
        self._commit_batch = False
        self._abort_batch = False

    def commit_transaction(self, record: SourceRecord | None = None) -> None:
        with self._lock:
            if record is None:
                self._commit_batch = True
            else:
                self._commit_records[id(record)] = record

    def abort_transaction(self, record: SourceRecord | None = None) -> None:
        with self._lock:
            if record is None:
                self._abort_batch = True
            else:
                self._abort_records[id(record)] = record

    def should_commit_batch(self) -> bool:
        with self._lock:
            self._check_batch()
            result, self._commit_batch = self._commit_batch, False
            return result

    def should_abort_batch(self) -> bool:
        with self._lock:
            self._check_batch()
            result, self._abort_batch = self._abort_batch, False
            return result

    def should_commit_on(self, record: SourceRecord) -> bool:
        with self._lock:
            self._check_record(record)
            return self._commit_records.pop(id(record), None) is not None

    def should_abort_on(self, record: SourceRecord) -> bool:
        with self._lock:
            self._check_record(record)
            return self._abort_records.pop(id(record), None) is not None

    def _check_batch(self) -> None:
        if self._commit_batch and self._abort_batch:
            raise ConnectException("Connector requested both commit and abort of same transaction")

    def _check_record(self, record: SourceRecord) -> None:
        if id(record) in self._commit_records and id(record) in self._abort_records:
            raise ConnectException(
                "Connector requested both commit and abort of same record against topic/partition "
                f"{record.topic}/{record.kafka_partition}"
            )
