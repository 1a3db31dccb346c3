"""CreateAcls (key 30): add ACL bindings (ALTER on the cluster). Each creation gets its own result;
an invalid binding answers INVALID_REQUEST with the reason, the others are still created. Without an
authorizer every creation answers SECURITY_DISABLED, as Kafka does."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.handlers._acls import AclError, binding, request_error
from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import AclRecord
from riverlog.protocol.messages.create_acls import (
    AclCreationResult,
    CreateAclsRequest,
    CreateAclsResponse,
)
from riverlog.security.acl import AclOperation

API_KEY = 30
MIN_VERSION = 0
MAX_VERSION = 3
REQUEST = CreateAclsRequest


async def handle(ctx: RequestContext, request: CreateAclsRequest) -> CreateAclsResponse:
    refused = request_error(ctx, AclOperation.ALTER)
    results: list[tuple[ErrorCode, str | None]] = []
    records: list[AclRecord] = []
    for creation in request.creations:
        if refused is not None:
            results.append(refused)
            continue
        acl = binding(creation)
        try:
            acl.validate()
        except AclError as exc:
            results.append((ErrorCode.invalid_request, str(exc)))
            continue
        records.append(
            AclRecord(
                int(acl.resource_type),
                acl.resource_name,
                int(acl.pattern_type),
                acl.principal,
                acl.host,
                int(acl.operation),
                int(acl.permission),
            )
        )
        results.append((ErrorCode.none, None))
    if records:
        try:
            ctx.services.metadata.commit(records)
        except MetadataUnavailableError as exc:
            results = [
                (ErrorCode.unknown_server_error, str(exc)) if code == ErrorCode.none else (code, m)
                for code, m in results
            ]
    return CreateAclsResponse(
        throttle_time=ZERO_THROTTLE,
        results=tuple(
            AclCreationResult(error_code=code, error_message=message) for code, message in results
        ),
    )
