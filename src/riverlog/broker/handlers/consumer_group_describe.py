"""ConsumerGroupDescribe (key 69): KIP-848 groups with epochs, members, assignments and targets.

A classic group, or none, answers GROUP_ID_NOT_FOUND (Kafka's answer; admin clients then fall back to
DescribeGroups for classic groups).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import authorized_operations, require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import DescribedConsumerGroup
from riverlog.protocol.messages.consumer_group_describe import (
    Assignment,
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    DescribedGroup,
    Member,
    TopicPartitions,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 69
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = ConsumerGroupDescribeRequest
AUTHORIZED_OPERATIONS_UNKNOWN = -(2**31)
CLASSIC_MEMBER, CONSUMER_MEMBER = 0, 1  # KIP-1099's MemberType (v1)


async def handle(
    ctx: RequestContext, request: ConsumerGroupDescribeRequest
) -> ConsumerGroupDescribeResponse:
    with_ops = bool(request.include_authorized_operations)
    groups = tuple(
        _group(ctx, _describe(ctx, group_id), with_ops) for group_id in request.group_ids
    )
    return ConsumerGroupDescribeResponse(throttle_time=ZERO_THROTTLE, groups=groups)


def _describe(ctx: RequestContext, group_id: str) -> DescribedConsumerGroup:
    try:
        require(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id)
        return ctx.services.groups.read(
            group_id, lambda shard: shard.describe_consumer_group(group_id)
        )
    except CoordinatorError as exc:
        return DescribedConsumerGroup(group_id, exc.code)


def _assignment(ctx: RequestContext, assignment: Mapping[uuid.UUID, frozenset[int]]) -> Assignment:
    image = ctx.services.image
    topics = []
    for topic_id, partitions in sorted(assignment.items()):
        topic = image.topic_by_id(topic_id)
        if topic is None or not partitions:
            continue
        topics.append(
            TopicPartitions(
                topic_id=topic_id,
                topic_name=topic.name,
                partitions=tuple(sorted(partitions)),
            )
        )
    return Assignment(topic_partitions=tuple(topics))


def _group(ctx: RequestContext, group: DescribedConsumerGroup, with_ops: bool) -> DescribedGroup:
    members = tuple(
        Member(
            member_id=m.member_id,
            instance_id=m.instance_id,
            rack_id=m.rack_id,
            member_epoch=m.member_epoch,
            client_id=m.client_id,
            client_host=m.client_host,
            subscribed_topic_names=m.subscribed_topic_names,
            subscribed_topic_regex=m.subscribed_topic_regex,
            assignment=_assignment(ctx, m.assignment),
            target_assignment=_assignment(ctx, m.target_assignment),
            member_type=CLASSIC_MEMBER if m.uses_classic_protocol else CONSUMER_MEMBER,
        )
        for m in group.members
    )
    return DescribedGroup(
        error_code=group.error,
        error_message=group.error_message,
        group_id=group.group_id,
        group_state=group.state,
        group_epoch=group.group_epoch,
        assignment_epoch=group.assignment_epoch,
        assignor_name=group.assignor,
        members=members,
        authorized_operations=(  # KIP-430
            authorized_operations(ctx, ResourceType.GROUP, group.group_id)
            if with_ops and group.error is ErrorCode.none
            else AUTHORIZED_OPERATIONS_UNKNOWN
        ),
    )
