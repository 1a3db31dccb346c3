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
from typing import Protocol, TypeVar

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError, topic_name_error
from riverlog.broker.handlers._authz import configs_denied
from riverlog.broker.network.context import RequestContext
from riverlog.metadata.image import BROKER_RESOURCE, GROUP_RESOURCE, TOPIC_RESOURCE
from riverlog.security.acl import AclOperation


class ConfigResource(Protocol):
    """A resource of either AlterConfigs request (the fields both have)."""

    @property
    def resource_type(self) -> int: ...

    @property
    def resource_name(self) -> str: ...


R = TypeVar("R", bound=ConfigResource)
A = TypeVar("A")


def alter_each(
    ctx: RequestContext,
    resources: Sequence[R],
    alter: Callable[[R], AdminError | None],
    answer: Callable[[R, AdminError | None], A],
) -> tuple[A, ...]:
    """Apply `alter` to each resource named once; one answer per resource (`answer`, the API's
    AlterConfigsResourceResponse built from the resource and its error)."""
    counts = Counter((r.resource_type, r.resource_name) for r in resources)
    answered: set[tuple[int, str]] = set()
    results: list[A] = []
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
        results.append(answer(resource, error))
    return tuple(results)


def resource_error(resource_type: int, name: str) -> AdminError | None:
    if resource_type == TOPIC_RESOURCE:
        if name == "":
            return AdminError(ErrorCode.invalid_request, "Default topic resources are not allowed.")
        return topic_name_error(name)
    if resource_type in (BROKER_RESOURCE, GROUP_RESOURCE):
        return None
    return AdminError(ErrorCode.invalid_request, f"Unsupported resource type: {resource_type}")
