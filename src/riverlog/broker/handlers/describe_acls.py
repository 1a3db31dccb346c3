"""DescribeAcls (key 29): the ACL bindings matching a filter (DESCRIBE on the cluster), grouped by
resource pattern as Kafka answers."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.authz import binding_of
from riverlog.broker.handlers._acls import AclError, acl_filter, request_error
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_acls import (
    AclDescription,
    DescribeAclsRequest,
    DescribeAclsResource,
    DescribeAclsResponse,
)
from riverlog.security.acl import AclBinding, AclOperation

API_KEY = 29
MIN_VERSION = 0
MAX_VERSION = 3
REQUEST = DescribeAclsRequest


async def handle(ctx: RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse:
    refused = request_error(ctx, AclOperation.DESCRIBE)
    if refused is not None:
        return _answer(ctx, refused[0], refused[1], [])
    try:
        wanted = acl_filter(request)
    except AclError as exc:
        return _answer(ctx, ErrorCode.invalid_request, str(exc), [])
    matching = sorted(
        b for b in (binding_of(a) for a in ctx.services.image.acls) if wanted.matches(b)
    )
    return _answer(ctx, ErrorCode.none, None, matching)


def _answer(
    ctx: RequestContext, code: ErrorCode, message: str | None, bindings: list[AclBinding]
) -> DescribeAclsResponse:
    by_resource: dict[tuple[int, str, int], list[AclBinding]] = {}
    for b in bindings:
        key = (int(b.resource_type), b.resource_name, int(b.pattern_type))
        by_resource.setdefault(key, []).append(b)
    resources = tuple(
        DescribeAclsResource(
            resource_type=rtype,
            resource_name=name,
            pattern_type=pattern,
            acls=tuple(
                AclDescription(
                    principal=b.principal,
                    host=b.host,
                    operation=int(b.operation),
                    permission_type=int(b.permission),
                )
                for b in entries
            ),
        )
        for (rtype, name, pattern), entries in by_resource.items()
    )
    return DescribeAclsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        error_message=message,
        resources=resources,
    )
