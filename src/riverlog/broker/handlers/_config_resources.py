"""What AlterConfigs and IncrementalAlterConfigs share: resource checks and the per-resource answer.

Kafka's rules: a resource named twice in one request answers INVALID_REQUEST ("Duplicate resource.")
once and is not changed; resource types other than topic (2), broker (4) and group (32, checked in group_configs) are
INVALID_REQUEST here
(Kafka's broker-logger resource, 8, is not offered: riverlog has no log4j); a topic resource with an
empty name is INVALID_REQUEST and an illegal one INVALID_TOPIC_EXCEPTION.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.handlers._authz import configs_denied
from riverlog.broker.topic_admin import AdminError, topic_name_error
from riverlog.metadata.image import BROKER_RESOURCE, GROUP_RESOURCE, TOPIC_RESOURCE
from riverlog.security.acl import AclOperation

AlterOne = Callable[[Any], AdminError | None]


def alter_each(ctx: RequestContext, resources: Sequence[Any], alter: AlterOne) -> tuple[Any, ...]:
    """Apply `alter` to each resource named once; one AlterConfigsResourceResponse per resource."""
    counts = Counter((r.resource_type, r.resource_name) for r in resources)
    answered: set[tuple[int, str]] = set()
    results: list[Any] = []
    for resource in resources:
        key = (resource.resource_type, resource.resource_name)
        if key in answered:
            continue
        answered.add(key)
        if counts[key] > 1:
            error: AdminError | None = AdminError(ErrorCode.invalid_request, "Duplicate resource.")
        else:
            error = (
                resource_error(resource.resource_type, resource.resource_name)
                or configs_denied(
                    ctx, AclOperation.ALTER_CONFIGS, resource.resource_type, resource.resource_name
                )
                or alter(resource)
            )
        results.append(response(ctx, resource, error))
    return tuple(results)


def resource_error(resource_type: int, name: str) -> AdminError | None:
    if resource_type == TOPIC_RESOURCE:
        if name == "":
            return AdminError(ErrorCode.invalid_request, "Default topic resources are not allowed.")
        return topic_name_error(name)
    if resource_type in (BROKER_RESOURCE, GROUP_RESOURCE):
        return None
    return AdminError(ErrorCode.invalid_request, f"Unsupported resource type: {resource_type}")


def response(ctx: RequestContext, resource: Any, error: AdminError | None) -> Any:
    return ctx.build(
        "AlterConfigsResourceResponse",
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
        resource_type=resource.resource_type,
        resource_name=resource.resource_name,
    )
