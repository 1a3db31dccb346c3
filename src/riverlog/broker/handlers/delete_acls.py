"""DeleteAcls (key 31): delete every ACL binding matching each filter (ALTER on the cluster); each
filter's result lists what it deleted."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.authz import binding_of
from riverlog.broker.handlers._acls import AclError, acl_filter, request_error
from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import AclRecord
from riverlog.protocol.messages.delete_acls import (
    DeleteAclsFilterResult,
    DeleteAclsMatchingAcl,
    DeleteAclsRequest,
    DeleteAclsResponse,
)
from riverlog.security.acl import AclBinding, AclOperation

API_KEY = 31
MIN_VERSION = 0
MAX_VERSION = 3
REQUEST = DeleteAclsRequest


async def handle(ctx: RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse:
    refused = request_error(ctx, AclOperation.ALTER)
    bindings = sorted(binding_of(a) for a in ctx.services.image.acls)
    results = []
    doomed: dict[AclBinding, None] = {}
    for entry in request.filters:
        if refused is not None:
            results.append(_result(ctx, refused[0], refused[1], []))
            continue
        try:
            wanted = acl_filter(entry)
        except AclError as exc:
            results.append(_result(ctx, ErrorCode.invalid_request, str(exc), []))
            continue
        matched = [b for b in bindings if wanted.matches(b)]
        doomed.update(dict.fromkeys(matched))
        results.append(_result(ctx, ErrorCode.none, None, matched))
    if doomed:
        records = [
            AclRecord(
                int(b.resource_type),
                b.resource_name,
                int(b.pattern_type),
                b.principal,
                b.host,
                int(b.operation),
                int(b.permission),
                removed=True,
            )
            for b in doomed
        ]
        try:
            ctx.services.metadata.commit(records)
        except MetadataUnavailableError as exc:
            results = [_result(ctx, ErrorCode.unknown_server_error, str(exc), []) for _ in results]
    return DeleteAclsResponse(throttle_time=ZERO_THROTTLE, filter_results=tuple(results))


def _result(
    ctx: RequestContext, code: ErrorCode, message: str | None, matched: list[AclBinding]
) -> DeleteAclsFilterResult:
    return DeleteAclsFilterResult(
        error_code=code,
        error_message=message,
        matching_acls=tuple(
            DeleteAclsMatchingAcl(
                error_code=ErrorCode.none,
                error_message=None,
                resource_type=int(b.resource_type),
                resource_name=b.resource_name,
                pattern_type=int(b.pattern_type),
                principal=b.principal,
                host=b.host,
                operation=int(b.operation),
                permission_type=int(b.permission),
            )
            for b in matched
        ),
    )
