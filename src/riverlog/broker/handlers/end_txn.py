"""EndTxn (key 26): commit or abort the producer's transaction.

The coordinator writes PrepareCommit/PrepareAbort, a COMMIT/ABORT marker on every partition of the
transaction, then CompleteCommit/CompleteAbort; riverlog answers after all of it (Kafka answers after
the Prepare record and writes markers in the background; a client cannot tell the difference except
that the next transaction never meets CONCURRENT_TRANSACTIONS). A retried EndTxn of a completed
transaction succeeds. PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v2 (KIP-588).
v4 only allows TRANSACTION_ABORTABLE, which riverlog never answers. v5 is transactions V2 (KIP-890
part 2): the coordinator bumps the producer epoch for every transaction, and the answer carries the
producer id and epoch the client goes on with.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.broker.services import ProducerIdUnavailable
from riverlog.coordinator.txn import TxnResult
from riverlog.coordinator.txn.state import TV_2
from riverlog.protocol.messages.end_txn import (
    EndTxnRequest,
    EndTxnResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 26
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = EndTxnRequest
FENCED_SINCE = 2
TV2_SINCE = 5


async def handle(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    txn_id: str = request.transactional_id
    producer_id, epoch = int(request.producer_id), int(request.producer_epoch)
    commit = bool(request.committed)
    tv = TV_2 if ctx.version >= TV2_SINCE else 0
    new_id = ctx.services.producer_ids.next_id
    if not ctx.authorized(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        code = ErrorCode.transactional_id_authorization_failed
        return EndTxnResponse(throttle_time=ZERO_THROTTLE, error_code=code)
    try:
        result = await _txn.execute(
            ctx,
            txn_id,
            lambda shard, now: shard.end_txn(txn_id, producer_id, epoch, commit, now, tv, new_id),
        )
    except ProducerIdUnavailable:  # an exhausted epoch needs a new producer id: retriable
        result = TxnResult(error=ErrorCode.coordinator_load_in_progress)
    code = _txn.for_version(result.error, ctx.version, FENCED_SINCE)
    if ctx.version < TV2_SINCE:
        return EndTxnResponse(throttle_time=ZERO_THROTTLE, error_code=code)
    meta = result.metadata if code is ErrorCode.none else None
    return EndTxnResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        producer_id=-1 if meta is None else meta.producer_id,
        producer_epoch=-1 if meta is None else meta.producer_epoch,
    )
