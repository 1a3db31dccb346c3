"""DescribeClientQuotas (key 48): the quota entities matching a filter, with their values
(DESCRIBE_CONFIGS on the cluster). Each filter component names an entity type and matches an exact
name (match type 0), the default (1) or any specific name (2); `strict` wants entities of exactly the
filtered types, otherwise they may have more. An `ip` component cannot be combined with user or
client-id ones (INVALID_REQUEST, as Kafka)."""

from __future__ import annotations

from collections.abc import Sequence

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_client_quotas import (
    ComponentData,
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
    EntityData,
    EntryData,
    ValueData,
)
from riverlog.security.acl import AclOperation
from riverlog.security.quota import ENTITY_TYPES, IP, Entity

API_KEY = 48
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = DescribeClientQuotasRequest
EXACT, DEFAULT, SPECIFIED = 0, 1, 2


def _matches(entity: Entity, components: Sequence[ComponentData], strict: bool) -> bool:
    names = dict(entity)
    for c in components:
        if c.entity_type not in names:
            return False
        name = names[c.entity_type]
        if int(c.match_type) == EXACT and name != c.match:
            return False
        if int(c.match_type) == DEFAULT and name is not None:
            return False
        if int(c.match_type) == SPECIFIED and name is None:
            return False
    return not strict or len(names) == len(components)


def _error(ctx: RequestContext, code: ErrorCode, message: str) -> DescribeClientQuotasResponse:
    return DescribeClientQuotasResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        error_message=message,
        entries=None,
    )


async def handle(
    ctx: RequestContext, request: DescribeClientQuotasRequest
) -> DescribeClientQuotasResponse:
    if not ctx.cluster_authorized(AclOperation.DESCRIBE_CONFIGS):
        return _error(ctx, ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
    for c in request.components:
        if c.entity_type not in ENTITY_TYPES or int(c.match_type) not in (
            EXACT,
            DEFAULT,
            SPECIFIED,
        ):
            return _error(ctx, ErrorCode.invalid_request, f"Invalid filter component {c!r}")
    kinds = [c.entity_type for c in request.components]
    if len(set(kinds)) != len(kinds):
        return _error(ctx, ErrorCode.invalid_request, "Duplicate filter component entity type")
    if IP in kinds and len(kinds) > 1:
        return _error(
            ctx,
            ErrorCode.invalid_request,
            "Invalid entity filter component combination, IP filter component should not be "
            "used with user or clientId filter component.",
        )
    quotas = ctx.services.image.client_quotas
    entries = tuple(
        EntryData(
            entity=tuple(EntityData(entity_type=t, entity_name=n) for t, n in entity),
            values=tuple(ValueData(key=k, value=v) for k, v in sorted(values.items())),
        )
        for entity, values in sorted(quotas.items(), key=lambda kv: repr(kv[0]))
        if _matches(entity, request.components, request.strict)
    )
    return DescribeClientQuotasResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        entries=entries,
    )
