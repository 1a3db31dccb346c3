"""AlterClientQuotas (key 49): set or remove quota values of user / client-id entities, or of an ip
(KIP-612 `connection_creation_rate`) (ALTER_CONFIGS on the cluster). Kafka's checks, each answered
per entry with INVALID_REQUEST and Kafka's message (riverlog.security.quota.check_entity /
check_value): known entity types, each at most once, an ip never with user/client-id, keys that belong
to the entity, positive values, whole numbers for LONG/INT keys. Stored in the metadata log or
ZooKeeper (`/config/users/<user>[/clients/<client-id>]`, `/config/clients/<client-id>`,
`/config/ips/<ip>`, `<default>` for defaults)."""

from __future__ import annotations

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
from riverlog.security.quota import QuotaEntityError, check_entity, check_value

API_KEY = 49
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = AlterClientQuotasRequest


async def handle(
    ctx: RequestContext, request: AlterClientQuotasRequest
) -> AlterClientQuotasResponse:
    allowed = ctx.cluster_authorized(AclOperation.ALTER_CONFIGS)
    results = []
    for entry in request.entries:
        code, message = ErrorCode.none, None
        records: list[ClientQuotaRecord] = []
        if not allowed:
            code, message = ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
        else:
            try:
                found = check_entity([(p.entity_type, p.entity_name) for p in entry.entity])
                for op in entry.ops:
                    value = None if op.remove else check_value(found, op.key, float(op.value))
                    records.append(ClientQuotaRecord(found, op.key, value))
            except QuotaEntityError as exc:
                code, message, records = ErrorCode.invalid_request, str(exc), []
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
