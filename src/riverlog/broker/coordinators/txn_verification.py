"""KIP-890 on the partition side: a transactional write must belong to an ongoing transaction.

Transactions V1 clients add partitions with AddPartitionsToTxn before they write; the partition leader
*verifies* that the coordinator has the partition in the producer's transaction (part 1). Transactions
V2 clients (Produce v12+, TxnOffsetCommit v5+) never send AddPartitionsToTxn: the leader *adds* the
partition itself on the transaction's first write there (part 2). Both go to the transactional id's
coordinator: this broker's own shard when it leads the id's `__transaction_state` partition, else that
partition's leader, with AddPartitionsToTxn v5 (`verify_only` true to verify, false to add) over one
inter-broker connection per broker, as Kafka's AddPartitionsToTxnManager does.

Invariants:
- A producer already in a transaction on the partition with the batch's epoch was checked when that
  transaction began there; the caller skips the check then (Kafka's verification guard).
- The answer is the coordinator's per-partition error; an unreachable coordinator is
  COORDINATOR_NOT_AVAILABLE, so the client retries (`for_producer` maps it).
Crash behaviour: nothing is kept here; a lost connection is reopened on the next check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kio.schema.add_partitions_to_txn.v5 import request as add_v5
from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.runtime import CoordinatorError
from riverlog.broker.replication.peer import PeerError, PeerPool, PeerSecurity
from riverlog.coordinator.txn.state import TV_2

if TYPE_CHECKING:
    from riverlog.broker.coordinators.transactions import TxnRuntime

log = logging.getLogger(__name__)
REQUEST_TIMEOUT_S = 30.0
TopicPartition = tuple[str, int]
AddRequest: Any = add_v5.AddPartitionsToTxnRequest
AddTransaction: Any = add_v5.AddPartitionsToTxnTransaction
AddTopic: Any = add_v5.AddPartitionsToTxnTopic

# How a failed check is answered to a producer (Kafka's mapping: retriable coordinator trouble
# becomes NOT_ENOUGH_REPLICAS, which every client retries without a metadata refresh).
_TO_PRODUCER: dict[ErrorCode, ErrorCode] = {
    ErrorCode.producer_fenced: ErrorCode.invalid_producer_epoch,
    ErrorCode.invalid_producer_id_mapping: ErrorCode.invalid_producer_epoch,
    ErrorCode.concurrent_transactions: ErrorCode.not_enough_replicas,
    ErrorCode.not_coordinator: ErrorCode.not_enough_replicas,
    ErrorCode.coordinator_not_available: ErrorCode.not_enough_replicas,
    ErrorCode.coordinator_load_in_progress: ErrorCode.not_enough_replicas,
}


def for_producer(code: ErrorCode) -> ErrorCode:
    """The Produce error for a failed check."""
    return _TO_PRODUCER.get(code, code)


class TxnVerifier:
    def __init__(
        self,
        broker_id: int,
        runtime: Callable[[], TxnRuntime],
        security: PeerSecurity | None = None,
    ) -> None:
        self.broker_id = broker_id
        self.runtime = runtime
        self._peers = PeerPool(REQUEST_TIMEOUT_S, security)

    async def check(
        self, transactional_id: str, producer_id: int, epoch: int, tp: TopicPartition, add: bool
    ) -> ErrorCode:
        """Verify (or, `add`, add) `tp` in the producer's transaction; the coordinator's answer."""
        runtime = self.runtime()
        try:
            _, shard = runtime.shard_for(transactional_id)
        except CoordinatorError:
            return await self._remote(runtime, transactional_id, producer_id, epoch, tp, add)
        if not add:
            return shard.verify_partitions(transactional_id, producer_id, epoch, [tp])[tp]
        try:
            result = await runtime.execute(
                transactional_id,
                lambda shard, now: shard.add_partitions(
                    transactional_id, producer_id, epoch, [tp], now, TV_2
                ),
            )
        except CoordinatorError as exc:
            return exc.code
        return result.error

    async def _remote(
        self,
        runtime: TxnRuntime,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        tp: TopicPartition,
        add: bool,
    ) -> ErrorCode:
        node = runtime.coordinator_for(transactional_id)
        if isinstance(node, ErrorCode):
            return node
        if node.node_id == self.broker_id:
            return ErrorCode.coordinator_load_in_progress  # ours, but not loaded yet
        request = AddRequest(
            transactions=(
                AddTransaction(
                    transactional_id=transactional_id,
                    producer_id=producer_id,
                    producer_epoch=epoch,
                    verify_only=not add,
                    topics=(AddTopic(name=tp[0], partitions=(tp[1],)),),
                ),
            )
        )
        try:
            peer = self._peers.get(node.node_id, node.host, node.port)
            response = await peer.request(request)
        except PeerError as exc:
            log.info("transaction check for %s at broker %d: %s", tp, node.node_id, exc)
            return ErrorCode.coordinator_not_available
        if response.error_code != ErrorCode.none:
            return ErrorCode(response.error_code)
        for txn in response.results_by_transaction:
            for topic in txn.topic_results:
                for partition in topic.results_by_partition:
                    return ErrorCode(partition.partition_error_code)
        return ErrorCode.unknown_server_error
