"""InitProducerId (key 22): producer ids for idempotent producers.

Without a transactional id Kafka hands out a fresh producer id with epoch 0 on every call (also when the
client passes its old id/epoch to bump after an error, KIP-360). Transactional ids belong to the
transaction coordinator, which riverlog does not have yet: those requests get COORDINATOR_NOT_AVAILABLE.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE

API_KEY = 22
MIN_VERSION = 0
MAX_VERSION = 5


async def handle(ctx: RequestContext, request: Any) -> Any:
    if request.transactional_id is not None:
        return ctx.build(
            "InitProducerIdResponse",
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.coordinator_not_available,
            producer_id=-1,
            producer_epoch=-1,
        )
    return ctx.build(
        "InitProducerIdResponse",
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        producer_id=ctx.services.producer_ids.next_id(),
        producer_epoch=0,
    )
