"""AlterClientQuotas (key 49): set or remove quota values of user / client-id entities (ALTER_CONFIGS
on the cluster). Kafka's checks, each answered per entry with INVALID_REQUEST: a known entity type at
most once (`user`, `client-id`; `ip` quotas are not offered), a known key, a positive value. Stored in
the metadata log or ZooKeeper (`/config/users/<user>`, `/config/clients/<client-id>`)."""

from __future__ import annotations

from collections.abc import Sequence

from kio.schema.errors import ErrorCode

from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import ClientQuotaRecord
from riverlog.protocol.messages.alter_client_quotas import (
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    EntityData,
    EntryData,
)
from riverlog.security.acl import AclOperation
from riverlog.security.quota import ENTITY_TYPES, QUOTA_KEYS, Entity

API_KEY = 49
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = AlterClientQuotasRequest


def entity_of(parts: Sequence[EntityData]) -> Entity | str:
    """The request's entity, sorted by type; an error message when it is not acceptable."""
    seen: dict[str, str | None] = {}
    for part in parts:
        if part.entity_type not in ENTITY_TYPES:
            return f"Unsupported quota entity type {part.entity_type!r} (use user or client-id)"
        if part.entity_type in seen:
            return f"Duplicate {part.entity_type} entity"
        seen[part.entity_type] = part.entity_name
    if not seen:
        return "Empty quota entity"
    return tuple(sorted(seen.items()))


async def handle(
    ctx: RequestContext, request: AlterClientQuotasRequest
) -> AlterClientQuotasResponse:
    allowed = ctx.cluster_authorized(AclOperation.ALTER_CONFIGS)
    results = []
    for entry in request.entries:
        code, message = ErrorCode.none, None
        found = entity_of(entry.entity)
        records: list[ClientQuotaRecord] = []
        if not allowed:
            code, message = ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
        elif isinstance(found, str):
            code, message = ErrorCode.invalid_request, found
        elif len(found) > 1 and not getattr(
            ctx.services.metadata, "supports_combined_quota_entities", True
        ):
            code, message = (
                ErrorCode.invalid_request,
                "user + client-id quotas are not supported in ZooKeeper mode yet",
            )
        else:
            for op in entry.ops:
                if op.key not in QUOTA_KEYS:
                    code, message = ErrorCode.invalid_request, f"Unknown quota key {op.key!r}"
                    break
                if not op.remove and not float(op.value) > 0:
                    code, message = ErrorCode.invalid_request, f"Quota {op.key} must be positive"
                    break
                records.append(
                    ClientQuotaRecord(found, op.key, None if op.remove else float(op.value))
                )
        if code is ErrorCode.none and records and not request.validate_only:
            try:
                ctx.services.metadata.commit(records)
            except MetadataUnavailableError as exc:
                code, message = ErrorCode.unknown_server_error, str(exc)
        results.append(
            EntryData(
                error_code=code,
                error_message=message,
                entity=tuple(
                    EntityData(entity_type=p.entity_type, entity_name=p.entity_name)
                    for p in entry.entity
                ),
            )
        )
    return AlterClientQuotasResponse(throttle_time=ZERO_THROTTLE, entries=tuple(results))
