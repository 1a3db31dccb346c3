"""AddOffsetsToTxn (key 25): a transactional producer will commit offsets for a consumer group.

Kafka adds the group's `__consumer_offsets` partition to the transaction, so EndTxn writes a marker
there too, which commits (or drops) the offsets TxnOffsetCommit wrote there.
PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v2 (KIP-588).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import OFFSETS_TOPIC
from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.add_offsets_to_txn import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 25
MIN_VERSION = 0
MAX_VERSION = 4  # v4 only allows TRANSACTION_ABORTABLE (KIP-890), never answered here
REQUEST = AddOffsetsToTxnRequest
FENCED_SINCE = 2


async def handle(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    txn_id: str = request.transactional_id
    producer_id, epoch = int(request.producer_id), int(request.producer_epoch)
    groups = ctx.services.groups
    if not ctx.authorized(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        code = ErrorCode.transactional_id_authorization_failed
        return AddOffsetsToTxnResponse(throttle_time=ZERO_THROTTLE, error_code=code)
    if not ctx.authorized(AclOperation.READ, ResourceType.GROUP, request.group_id):
        code = ErrorCode.group_authorization_failed
        return AddOffsetsToTxnResponse(throttle_time=ZERO_THROTTLE, error_code=code)
    code = groups.ensure_offsets_topic()
    if code is ErrorCode.none:
        offsets_partition = [(OFFSETS_TOPIC, groups.partition_of(request.group_id))]
        result = await _txn.execute(
            ctx,
            txn_id,
            lambda shard, now: shard.add_partitions(
                txn_id, producer_id, epoch, offsets_partition, now
            ),
        )
        code = _txn.for_version(result.error, ctx.version, FENCED_SINCE)
    return AddOffsetsToTxnResponse(throttle_time=ZERO_THROTTLE, error_code=code)
