"""The transaction coordinator: a pure state machine over `__transaction_state` records.

`TransactionCoordinatorShard` owns the transactional ids of one `__transaction_state` partition; the
broker's `riverlog.broker.coordinators.transactions` appends the records it returns, replays them into it and writes
the transaction markers.
"""

from riverlog.coordinator.txn.records import TransactionLogRecord, decode_record, encode_record
from riverlog.coordinator.txn.shard import MarkerJob, TransactionCoordinatorShard, TxnResult
from riverlog.coordinator.txn.state import TransactionMetadata, TxnState

__all__ = [
    "MarkerJob",
    "TransactionCoordinatorShard",
    "TransactionLogRecord",
    "TransactionMetadata",
    "TxnResult",
    "TxnState",
    "decode_record",
    "encode_record",
]
