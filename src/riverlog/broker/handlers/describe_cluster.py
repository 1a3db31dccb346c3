"""DescribeCluster (key 60): cluster id, controller and live brokers (KIP-700).

Kafka's rules: a broker serves endpoint type BROKER (1); a request for CONTROLLER (2) answers
MISMATCHED_ENDPOINT_TYPE and any other type UNSUPPORTED_ENDPOINT_TYPE (KIP-919, v1+). v2 may ask for
fenced brokers too (KIP-1073); a fenced broker leaves riverlog's image, so none is ever listed.
Cluster authorized operations are sent when asked: with no authorizer configured, Kafka reports every
operation the cluster resource supports.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.handlers._authz import cluster_operations
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_cluster import (
    DescribeClusterBroker,
    DescribeClusterRequest,
    DescribeClusterResponse,
)

API_KEY = 60
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DescribeClusterRequest
BROKER_ENDPOINT, CONTROLLER_ENDPOINT = 1, 2
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
# Kafka's AclOperation codes the CLUSTER resource supports: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
# DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
CLUSTER_OPERATIONS = sum(1 << code for code in (5, 7, 8, 9, 10, 11, 12))


async def handle(ctx: RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse:
    endpoint_type = request.endpoint_type
    if endpoint_type == CONTROLLER_ENDPOINT:
        return _error(
            ctx,
            ErrorCode.mismatched_endpoint_type,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of "
            "type CONTROLLER",
        )
    if endpoint_type != BROKER_ENDPOINT:
        return _error(
            ctx, ErrorCode.unsupported_endpoint_type, f"Unsupported endpoint type {endpoint_type}"
        )
    image = ctx.services.image
    brokers = tuple(
        DescribeClusterBroker(
            broker_id=b.broker_id,
            host=address[0],
            port=address[1],
            rack=b.rack,
            is_fenced=False,
        )
        for b in sorted(image.brokers.values(), key=lambda b: b.broker_id)
        if (address := b.address(ctx.listener)) is not None
    )
    include_ops = request.include_cluster_authorized_operations
    return DescribeClusterResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=BROKER_ENDPOINT,
        cluster_id=image.cluster_id,
        controller_id=image.controller_id,
        brokers=brokers,
        cluster_authorized_operations=(
            cluster_operations(ctx, CLUSTER_OPERATIONS)
            if include_ops
            else AUTHORIZED_OPERATIONS_OMITTED
        ),
    )


def _error(ctx: RequestContext, code: ErrorCode, message: str) -> DescribeClusterResponse:
    return DescribeClusterResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        error_message=message,
        endpoint_type=BROKER_ENDPOINT,
        cluster_id="",
        controller_id=-1,
        brokers=(),
        cluster_authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
    )
