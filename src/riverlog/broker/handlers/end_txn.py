"""EndTxn (key 26): commit or abort the producer's transaction.

The coordinator writes PrepareCommit/PrepareAbort, a COMMIT/ABORT marker on every partition of the
transaction, then CompleteCommit/CompleteAbort; riverlog answers after all of it (Kafka answers after
the Prepare record and writes markers in the background; a client cannot tell the difference except
that the next transaction never meets CONCURRENT_TRANSACTIONS). A retried EndTxn of a completed
transaction succeeds. PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v2 (KIP-588).
"""

from __future__ import annotations

from typing import Any

from riverlog.broker.context import RequestContext
from riverlog.broker.handlers import _txn
from riverlog.broker.responses import ZERO_THROTTLE

API_KEY = 26
MIN_VERSION = 0
MAX_VERSION = 3
FENCED_SINCE = 2


async def handle(ctx: RequestContext, request: Any) -> Any:
    txn_id: str = request.transactional_id
    producer_id, epoch = int(request.producer_id), int(request.producer_epoch)
    commit = bool(request.committed)
    result = await _txn.execute(
        ctx, txn_id, lambda shard, now: shard.end_txn(txn_id, producer_id, epoch, commit, now)
    )
    code = _txn.for_version(result.error, ctx.version, FENCED_SINCE)
    return ctx.build("EndTxnResponse", throttle_time=ZERO_THROTTLE, error_code=code)
