"""Authorization checks several handlers share (Kafka's KafkaApis rules)."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError
from riverlog.broker.network.context import RequestContext
from riverlog.security.acl import SUPPORTED_OPERATIONS, AclOperation, ResourceType

# Metadata's "authorized operations unknown" (requested by nobody, or no authorizer).
AUTHORIZED_OPERATIONS_UNKNOWN = -(2**31)


def may_create_topic(ctx: RequestContext, name: str) -> bool:
    """CREATE on the cluster, or on the topic itself."""
    return ctx.cluster_authorized(AclOperation.CREATE) or ctx.authorized(
        AclOperation.CREATE, ResourceType.TOPIC, name
    )


def authorized_operations(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """The bit field of operations the principal may do on the resource (KIP-430)."""
    return sum(
        1 << int(op)
        for op in SUPPORTED_OPERATIONS[resource_type]
        if ctx.authorized(op, resource_type, name)
    )


def configs_denied(
    ctx: RequestContext, operation: AclOperation, resource_type: int, name: str
) -> AdminError | None:
    """DESCRIBE_CONFIGS / ALTER_CONFIGS on a topic (2) or, for a broker (4), on the cluster."""
    if resource_type == 2:
        if ctx.authorized(operation, ResourceType.TOPIC, name):
            return None
        return AdminError(ErrorCode.topic_authorization_failed, "Authorization failed.")
    if resource_type == 4 and not ctx.cluster_authorized(operation):
        return AdminError(ErrorCode.cluster_authorization_failed, "Authorization failed.")
    return None


def cluster_operations(ctx: RequestContext, unrestricted: int) -> int:
    """The cluster's authorized operations (KIP-430): `unrestricted` without an authorizer, none
    without DESCRIBE on the cluster, else those the principal may do."""
    authorizer = getattr(ctx.services, "authorizer", None)
    if authorizer is None or not authorizer.enabled:
        return unrestricted
    if not ctx.cluster_authorized(AclOperation.DESCRIBE):
        return 0
    return authorized_operations(ctx, ResourceType.CLUSTER, "kafka-cluster")


def require(
    ctx: RequestContext,
    operation: AclOperation,
    resource_type: ResourceType,
    name: str,
) -> None:
    """Raise the coordinators' CoordinatorError with Kafka's *_AUTHORIZATION_FAILED code when the
    principal may not do `operation` (the handlers already answer a CoordinatorError)."""
    if ctx.authorized(operation, resource_type, name):
        return
    from riverlog.broker.coordinators.runtime import CoordinatorError

    raise CoordinatorError(_FAILED[resource_type])


_FAILED = {
    ResourceType.GROUP: ErrorCode.group_authorization_failed,
    ResourceType.TRANSACTIONAL_ID: ErrorCode.transactional_id_authorization_failed,
    ResourceType.TOPIC: ErrorCode.topic_authorization_failed,
    ResourceType.CLUSTER: ErrorCode.cluster_authorization_failed,
}
