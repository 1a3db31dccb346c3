"""WriteTxnMarkers (key 27): a transaction coordinator ends a transaction on partitions led here.

Each marker is a COMMIT or ABORT control batch with the producer's id and epoch and the coordinator's
epoch, written by `riverlog.broker.coordinators.transactions.MarkerWriter` — the same code path the local
transaction coordinator uses. Per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, a
stale coordinator epoch TRANSACTION_COORDINATOR_FENCED, an older producer epoch
INVALID_PRODUCER_EPOCH, as Kafka answers. Markers on `__consumer_offsets` also commit or drop the
producer's transactional offsets. v1+ (Kafka 4 dropped v0; v2 adds the transaction version, which
riverlog records but does not need). `riverlog transactions abort` sends this request.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.transactions import TxnMarker
from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.write_txn_markers import (
    WritableTxnMarker,
    WritableTxnMarkerPartitionResult,
    WritableTxnMarkerResult,
    WritableTxnMarkerTopicResult,
    WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
)
from riverlog.security.acl import AclOperation

API_KEY = 27
MIN_VERSION = 1
MAX_VERSION = 2
REQUEST = WriteTxnMarkersRequest


async def handle(ctx: RequestContext, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    results = [await _marker(ctx, marker) for marker in request.markers]
    return WriteTxnMarkersResponse(markers=tuple(results))


async def _marker(ctx: RequestContext, entry: WritableTxnMarker) -> WritableTxnMarkerResult:
    marker = TxnMarker(
        int(entry.producer_id),
        int(entry.producer_epoch),
        bool(entry.transaction_result),
        int(entry.coordinator_epoch),
    )
    runtime = ctx.services.transactions
    topics = []
    for topic in entry.topics:
        partitions = []
        for index in topic.partition_indexes:
            if not ctx.cluster_authorized(AclOperation.CLUSTER_ACTION):
                code = ErrorCode.cluster_authorization_failed
            elif runtime is None:
                code = ErrorCode.coordinator_not_available
            else:
                code = await runtime.markers.write(topic.name, int(index), marker)
            partitions.append(
                WritableTxnMarkerPartitionResult(partition_index=index, error_code=code)
            )
        topics.append(WritableTxnMarkerTopicResult(name=topic.name, partitions=tuple(partitions)))
    return WritableTxnMarkerResult(producer_id=entry.producer_id, topics=tuple(topics))
