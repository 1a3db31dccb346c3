"""FindCoordinator (key 10): where a group's coordinator is.

v0-v3 ask for one key, v4+ for a batch (`coordinator_keys`). Key type 0 is a consumer group: the answer is
the leader of the group's `__consumer_offsets` partition, creating that topic on first use as Kafka does.
Key type 1 (transactional id) is the leader of the id's `__transaction_state` partition, created on first
use likewise. Any other key type is an INVALID_REQUEST.
"""

from __future__ import annotations

from dataclasses import replace

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorNode
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.find_coordinator import (
    Coordinator,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 10
MIN_VERSION = 0
MAX_VERSION = 6
REQUEST = FindCoordinatorRequest
GROUP_KEY, TRANSACTION_KEY = 0, 1
NO_NODE = CoordinatorNode(-1, "", -1)


async def handle(ctx: RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    key_type = int(request.key_type)
    if ctx.version >= 4:
        coordinators = tuple(_coordinator(ctx, key, key_type) for key in request.coordinator_keys)
        return FindCoordinatorResponse(throttle_time=ZERO_THROTTLE, coordinators=coordinators)
    code, message, node = find(ctx, request.key, key_type)
    return FindCoordinatorResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=code,
        error_message=message,
        node_id=node.node_id,
        host=node.host,
        port=node.port,
    )


def _coordinator(ctx: RequestContext, key: str, key_type: int) -> Coordinator:
    code, message, node = find(ctx, key, key_type)
    return Coordinator(
        key=key,
        node_id=node.node_id,
        host=node.host,
        port=node.port,
        error_code=code,
        error_message=message,
    )


def find(
    ctx: RequestContext, key: str, key_type: int
) -> tuple[ErrorCode, str | None, CoordinatorNode]:
    transactions = ctx.services.transactions
    if key_type == TRANSACTION_KEY and transactions is None:
        return ErrorCode.coordinator_not_available, "no transaction coordinator", NO_NODE
    if key_type not in (GROUP_KEY, TRANSACTION_KEY):
        return ErrorCode.invalid_request, f"unknown key type {key_type}", NO_NODE
    resource = ResourceType.GROUP if key_type == GROUP_KEY else ResourceType.TRANSACTIONAL_ID
    if not ctx.authorized(AclOperation.DESCRIBE, resource, key):
        code = (
            ErrorCode.group_authorization_failed
            if key_type == GROUP_KEY
            else ErrorCode.transactional_id_authorization_failed
        )
        return code, code.name, NO_NODE
    runtime = ctx.services.groups if transactions is None or key_type == GROUP_KEY else transactions
    found = runtime.coordinator_for(key)
    if isinstance(found, ErrorCode):
        return found, found.name, NO_NODE
    return ErrorCode.none, None, _on_listener(ctx, found)


def _on_listener(ctx: RequestContext, node: CoordinatorNode) -> CoordinatorNode:
    """The coordinator's address on the listener the client connected to."""
    broker = ctx.services.image.brokers.get(node.node_id)
    address = None if broker is None else broker.address(ctx.listener)
    if address is None or address == (node.host, node.port):
        return node
    return replace(node, host=address[0], port=address[1])
