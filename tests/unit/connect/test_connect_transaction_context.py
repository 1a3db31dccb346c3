"""The worker's TransactionContext (Kafka's WorkerTransactionContextTest cases)."""

from __future__ import annotations

import pytest

from riverlog.connect.api import SourceRecord
from riverlog.connect.errors import ConnectException
from riverlog.connect.transaction_context import WorkerTransactionContext

RECORD = SourceRecord("t", 0, None, None, None, None)


def test_batch_commit() -> None:
    context = WorkerTransactionContext()
    context.commit_transaction()
    assert not context.should_abort_batch()
    assert not context.should_abort_on(RECORD) and not context.should_commit_on(RECORD)
    assert context.should_commit_batch() and not context.should_commit_batch()  # once


def test_record_commit() -> None:
    context = WorkerTransactionContext()
    context.commit_transaction(RECORD)
    assert not context.should_abort_batch() and not context.should_abort_on(RECORD)
    assert not context.should_commit_batch()
    assert context.should_commit_on(RECORD) and not context.should_commit_on(RECORD)


def test_batch_and_record_abort() -> None:
    context = WorkerTransactionContext()
    context.abort_transaction()
    context.abort_transaction(RECORD)
    assert not context.should_commit_on(RECORD) and not context.should_commit_batch()
    assert context.should_abort_batch() and context.should_abort_on(RECORD)


def test_records_are_told_apart_by_identity() -> None:
    context = WorkerTransactionContext()
    twin = SourceRecord("t", 0, None, None, None, None)
    context.commit_transaction(RECORD)
    assert not context.should_commit_on(twin) and context.should_commit_on(RECORD)


def test_commit_and_abort_of_one_batch_or_record_fails() -> None:
    context = WorkerTransactionContext()
    context.commit_transaction()
    context.abort_transaction()
    with pytest.raises(ConnectException, match="both commit and abort of same transaction"):
        context.should_commit_batch()
    context = WorkerTransactionContext()
    context.commit_transaction(RECORD)
    context.abort_transaction(RECORD)
    with pytest.raises(ConnectException, match="same record against topic/partition t/0"):
        context.should_abort_on(RECORD)
