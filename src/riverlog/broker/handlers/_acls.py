"""Shared by the ACL handlers: request fields to bindings and filters, the error a request gets."""

from __future__ import annotations

from typing import Protocol, TypeVar

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.create_acls import AclCreation
from riverlog.security.acl import (
    AclBinding,
    AclError,
    AclFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)


def request_error(ctx: RequestContext, operation: AclOperation) -> tuple[ErrorCode, str] | None:
    """SECURITY_DISABLED without an authorizer (Kafka's answer), CLUSTER_AUTHORIZATION_FAILED
    without the cluster permission; None when the request may proceed."""
    authorizer = getattr(ctx.services, "authorizer", None)
    if authorizer is None or not authorizer.enabled:
        return ErrorCode.security_disabled, "No Authorizer is configured on the broker"
    if not ctx.cluster_authorized(operation):
        return ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
    return None


E = TypeVar("E", ResourceType, PatternType, AclOperation, AclPermissionType)


def _enum(kind: type[E], value: int) -> E:
    try:
        return kind(int(value))
    except ValueError:
        return kind.UNKNOWN


def binding(creation: AclCreation) -> AclBinding:
    return AclBinding(
        _enum(ResourceType, creation.resource_type),
        creation.resource_name,
        _enum(PatternType, creation.resource_pattern_type),
        creation.principal,
        creation.host,
        _enum(AclOperation, creation.operation),
        _enum(AclPermissionType, creation.permission_type),
    )


class FilterFields(Protocol):
    """What DescribeAcls' request and DeleteAcls' filters both carry (pattern type from v1;
    LITERAL, the view's default, before)."""

    @property
    def resource_type_filter(self) -> int: ...
    @property
    def resource_name_filter(self) -> str | None: ...
    @property
    def pattern_type_filter(self) -> int: ...
    @property
    def principal_filter(self) -> str | None: ...
    @property
    def host_filter(self) -> str | None: ...
    @property
    def operation(self) -> int: ...
    @property
    def permission_type(self) -> int: ...


def acl_filter(request: FilterFields) -> AclFilter:
    """A DescribeAcls request or a DeleteAcls filter entry."""
    acl = AclFilter(
        _enum(ResourceType, request.resource_type_filter),
        request.resource_name_filter,
        _enum(PatternType, request.pattern_type_filter),
        request.principal_filter,
        request.host_filter,
        _enum(AclOperation, request.operation),
        _enum(AclPermissionType, request.permission_type),
    )
    acl.validate()
    return acl


__all__ = ["AclError", "acl_filter", "binding", "request_error"]
