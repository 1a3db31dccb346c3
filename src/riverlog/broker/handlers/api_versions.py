"""ApiVersions (key 18): the version ranges this broker implements, exactly those registered.

v3+ also carries Kafka's feature flags. riverlog has one, `transaction.version` (supported 0-2,
finalized at `riverlog.transaction.version`): at 2, Kafka 4.0 clients use transactions V2 (KIP-890
part 2: an epoch bump per transaction, partitions added by the first produce). Features never change
while a broker runs, so the finalized epoch is a constant.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    FinalizedFeatureKey,
    SupportedFeatureKey,
)

API_KEY = 18
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = ApiVersionsRequest
TRANSACTION_VERSION = "transaction.version"
MAX_TRANSACTION_VERSION = 2
FINALIZED_EPOCH = 1
FEATURES_SINCE = 3


async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    keys = tuple(
        ApiVersion(api_key=key, min_version=low, max_version=high)
        for key, low, high in ctx.services.api_ranges
    )
    supported: tuple[SupportedFeatureKey, ...] = ()
    finalized: tuple[FinalizedFeatureKey, ...] = ()
    if ctx.version >= FEATURES_SINCE:
        level = ctx.services.config.get_int("riverlog.transaction.version")
        supported = (
            SupportedFeatureKey(
                name=TRANSACTION_VERSION,
                min_version=0,
                max_version=MAX_TRANSACTION_VERSION,
            ),
        )
        if level > 0:  # Kafka lists no finalized level for a feature at 0
            finalized = (
                FinalizedFeatureKey(
                    name=TRANSACTION_VERSION,
                    max_version_level=level,
                    min_version_level=level,
                ),
            )
    return ApiVersionsResponse(
        error_code=ErrorCode.none,
        api_keys=keys,
        throttle_time=ZERO_THROTTLE,
        supported_features=supported,
        finalized_features_epoch=FINALIZED_EPOCH,
        finalized_features=finalized,
        zk_migration_ready=False,
    )
