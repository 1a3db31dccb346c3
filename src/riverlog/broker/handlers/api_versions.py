"""ApiVersions (key 18): the version ranges this broker implements, exactly those registered."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE

API_KEY = 18
MIN_VERSION = 0
MAX_VERSION = 4


async def handle(ctx: RequestContext, request: Any) -> Any:
    keys = tuple(
        ctx.build("ApiVersion", api_key=key, min_version=low, max_version=high)
        for key, low, high in ctx.services.api_ranges
    )
    return ctx.build(
        "ApiVersionsResponse",
        error_code=ErrorCode.none,
        api_keys=keys,
        throttle_time=ZERO_THROTTLE,
        supported_features=(),
        finalized_features_epoch=-1,
        finalized_features=(),
        zk_migration_ready=False,
    )
