"""A source connector that defines its own transactions (KIP-618 `transaction.boundary=connector`),
loaded by name by the worker processes of test_connect_txn_boundary.py (not a test module).

The task writes `r-0` … `r-59`, five per poll; it commits the transaction on records 9, 19 and 39,
aborts it on record 29 (dropping `r-20` … `r-29`), and asks for a batch commit in the poll that
holds record 49 and again in the one that holds record 59."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from riverlog.connect.api import SourceConnector, SourceRecord, SourceTask, SourceTaskContext
from riverlog.connect.data import STRING_SCHEMA

TOTAL = 60
PER_POLL = 5


class TxnTask(SourceTask):
    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    def start(self, props: dict[str, str]) -> None:
        self.topic = props["topic"]
        stored = self.context.offset_storage_reader.offset({"task": "txn"})
        self.next = int(stored["next"]) if stored else 0

    def poll(self) -> list[SourceRecord] | None:
        if self.next >= TOTAL:
            time.sleep(0.1)
            return None
        txn = self.context.transaction_context
        assert txn is not None, (
            "transaction.boundary=connector gives the task a transaction context"
        )
        records = []
        for i in range(self.next, min(self.next + PER_POLL, TOTAL)):
            record = SourceRecord(
                self.topic,
                None,
                None,
                None,
                STRING_SCHEMA,
                f"r-{i}",
                source_partition={"task": "txn"},
                source_offset={"next": i + 1},
            )
            records.append(record)
            if i in (9, 19, 39):
                txn.commit_transaction(record)
            elif i == 29:
                txn.abort_transaction(record)
            elif i in (49, 59):
                txn.commit_transaction()
        self.next += len(records)
        return records

    def stop(self) -> None:
        pass


class TxnConnector(SourceConnector):
    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[TxnTask]:
        return TxnTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass

    def can_define_transaction_boundaries(self, props: Mapping[str, Any]) -> bool:
        return True
