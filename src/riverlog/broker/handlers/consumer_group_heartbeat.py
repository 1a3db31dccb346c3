"""ConsumerGroupHeartbeat (key 68): the KIP-848 consumer group protocol.

A member joins (epoch 0), heartbeats with what changed and the partitions it owns, and gets its epoch and,
when it changed, the partitions it may own; the coordinator computes assignments with its server-side
assignors (`riverlog.coordinator.group.consumer`). v1 (KIP-1082): the client makes its member id; with
v0 the coordinator may hand one out.
"""

from __future__ import annotations

import datetime

from kio.static.primitive import i32Timedelta

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.handlers.join_group import client_host
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.coordinator.group.messages import ConsumerHeartbeatRequest, ConsumerHeartbeatResult
from riverlog.protocol.messages.consumer_group_heartbeat import (
    Assignment,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    TopicPartitions,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 68
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = ConsumerGroupHeartbeatRequest


async def handle(
    ctx: RequestContext, request: ConsumerGroupHeartbeatRequest
) -> ConsumerGroupHeartbeatResponse:
    owned = request.topic_partitions
    names = request.subscribed_topic_names
    req = ConsumerHeartbeatRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        member_epoch=request.member_epoch,
        rebalance_timeout_ms=millis(request.rebalance_timeout),
        subscribed_topic_names=None if names is None else tuple(names),
        subscribed_topic_regex=request.subscribed_topic_regex,
        server_assignor=request.server_assignor,
        owned=None
        if owned is None
        else {tp.topic_id: frozenset(tp.partitions) for tp in owned if tp.topic_id is not None},
        instance_id=request.instance_id,
        rack_id=request.rack_id,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        api_version=ctx.version,
    )
    groups = ctx.services.groups
    topics = groups.topics_view()
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        result = await groups.execute(
            req.group_id,
            lambda shard, _ticket, now: shard.consumer_group_heartbeat(req, topics, now),
        )
    except CoordinatorError as exc:
        result = ConsumerHeartbeatResult(exc.code)
    return _response(ctx, result)


def _response(
    ctx: RequestContext, result: ConsumerHeartbeatResult
) -> ConsumerGroupHeartbeatResponse:
    assignment = None
    if result.assignment is not None:
        assignment = Assignment(
            topic_partitions=tuple(
                TopicPartitions(topic_id=topic_id, partitions=tuple(sorted(parts)))
                for topic_id, parts in sorted(result.assignment.items())
                if parts
            ),
        )
    interval = datetime.timedelta(milliseconds=result.heartbeat_interval_ms)
    return ConsumerGroupHeartbeatResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=result.error,
        error_message=result.error_message,
        member_id=result.member_id,
        member_epoch=result.member_epoch,
        heartbeat_interval=i32Timedelta.parse(interval),
        assignment=assignment,
    )
