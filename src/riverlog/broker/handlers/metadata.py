"""Metadata (key 3): brokers, controller, topics with ids, partitions with leaders, replicas and ISR.

Topics requested by name that do not exist are auto-created when both the broker
(`auto.create.topics.enable`) and the request (`allow_auto_topic_creation`, v4+) allow it — Kafka's rule.
Topic ids, as Kafka's KafkaApis.handleTopicMetadataRequest treats them:
- v10 and v11 carry a topic id field but do not support it: a topic with a null name or a non-zero id
  fails the whole request with INVALID_REQUEST (Kafka's MetadataRequest.getErrorResponse: every
  requested topic echoed with that error, no brokers);
- v12+: when any topic is named by a non-zero id the request is answered by id (names are ignored),
  an unknown id with UNKNOWN_TOPIC_ID and a null name.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import INTERNAL_TOPICS, topic_name_error
from riverlog.broker.handlers._authz import (
    authorized_operations,
    cluster_operations,
    may_create_topic,
)
from riverlog.broker.handlers.describe_cluster import CLUSTER_OPERATIONS
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.image import ClusterImage, TopicImage
from riverlog.protocol.messages import metadata as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 3
MIN_VERSION = 0
MAX_VERSION = 13
REQUEST = wire.MetadataRequest
ZERO_UUID = uuid.UUID(int=0)
AUTHORIZED_OPERATIONS_UNKNOWN = -(2**31)
# With no authorizer Kafka reports every operation the resource supports (AclOperation codes):
# topics READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
TOPIC_OPERATIONS = sum(1 << code for code in (3, 4, 5, 6, 7, 8, 10, 11))


async def handle(ctx: RequestContext, request: wire.MetadataRequest) -> wire.MetadataResponse:
    services = ctx.services
    allow_create = request.allow_auto_topic_creation
    if request.topics is None:
        # KafkaApis: listing every topic shows only those the principal may describe.
        topics = [
            topic_entry(ctx, t)
            for t in services.image.topics.values()
            if ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, t.name)
        ]
    elif ctx.version < 12 and any(_names_by_id(t) for t in request.topics):
        return _invalid_request(ctx, request.topics)
    elif ids := _requested_ids(request.topics):
        topics = [_by_id(ctx, topic_id) for topic_id in ids]
    else:
        topics = [_requested(ctx, t, allow_create) for t in request.topics]
    if request.include_topic_authorized_operations:
        topics = [
            replace(t, topic_authorized_operations=_topic_operations(ctx, t.name or ""))
            if t.error_code == ErrorCode.none
            else t
            for t in topics
        ]
    image = services.image
    return wire.MetadataResponse(
        throttle_time=ZERO_THROTTLE,
        brokers=tuple(broker_entries(ctx, image)),
        cluster_id=image.cluster_id,
        controller_id=image.controller_id,
        topics=tuple(topics),
        cluster_authorized_operations=(
            cluster_operations(ctx, CLUSTER_OPERATIONS)
            if request.include_cluster_authorized_operations
            else AUTHORIZED_OPERATIONS_UNKNOWN
        ),
        error_code=ErrorCode.none,
    )


def _topic_operations(ctx: RequestContext, name: str) -> int:
    authorizer = getattr(ctx.services, "authorizer", None)
    if authorizer is None or not authorizer.enabled:
        return TOPIC_OPERATIONS
    return authorized_operations(ctx, ResourceType.TOPIC, name)


def broker_entries(ctx: RequestContext, image: ClusterImage) -> list[wire.MetadataResponseBroker]:
    """Each broker's address on the listener the client connected to (Kafka leaves out brokers
    without that listener)."""
    return [
        wire.MetadataResponseBroker(
            node_id=b.broker_id,
            host=address[0],
            port=address[1],
            rack=b.rack,
        )
        for b in image.brokers.values()
        if (address := b.address(ctx.listener)) is not None
    ]


def _names_by_id(requested: wire.MetadataRequestTopic) -> bool:
    """A topic given by id (or without a name): what v10 and v11 carry but do not support."""
    topic_id = requested.topic_id
    return requested.name is None or topic_id not in (None, ZERO_UUID)


def _requested_ids(requested: Sequence[wire.MetadataRequestTopic]) -> list[uuid.UUID]:
    """The distinct non-zero topic ids requested, in request order."""
    ids = (t.topic_id for t in requested)
    return list(dict.fromkeys(i for i in ids if i is not None and i != ZERO_UUID))


def _invalid_request(
    ctx: RequestContext, requested: Sequence[wire.MetadataRequestTopic]
) -> wire.MetadataResponse:
    """Kafka's error answer to a Metadata request it refuses as a whole."""
    code = ErrorCode.invalid_request
    return wire.MetadataResponse(
        throttle_time=ZERO_THROTTLE,
        brokers=(),
        cluster_id=None,
        controller_id=-1,
        topics=tuple(_error_topic(ctx, t.name or "", t.topic_id, code) for t in requested),
        cluster_authorized_operations=AUTHORIZED_OPERATIONS_UNKNOWN,
        error_code=code,
    )


def _by_id(ctx: RequestContext, topic_id: uuid.UUID) -> wire.MetadataResponseTopic:
    topic = ctx.services.image.topic_by_id(topic_id)
    if topic is None:
        return _error_topic(ctx, None, topic_id, ErrorCode.unknown_topic_id)
    if not ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, topic.name):
        # KafkaApis: by id, an unauthorized topic's name is not revealed
        return _error_topic(ctx, None, topic_id, ErrorCode.topic_authorization_failed)
    return topic_entry(ctx, topic)


def _requested(
    ctx: RequestContext, requested: wire.MetadataRequestTopic, allow_create: bool
) -> wire.MetadataResponseTopic:
    services = ctx.services
    name = requested.name
    if name is None or topic_name_error(name) is not None:
        return _error_topic(ctx, name or "", None, ErrorCode.invalid_topic_exception)
    if not ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
        return _error_topic(ctx, name, None, ErrorCode.topic_authorization_failed)
    if name not in services.image.topics and allow_create and may_create_topic(ctx, name):
        services.auto_create_topic(name)
    topic = services.image.topic(name)
    if topic is None:
        return _error_topic(ctx, name, None, ErrorCode.unknown_topic_or_partition)
    return topic_entry(ctx, topic)


def _error_topic(
    ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None, code: ErrorCode
) -> wire.MetadataResponseTopic:
    return wire.MetadataResponseTopic(
        error_code=code,
        name=name,
        topic_id=topic_id or ZERO_UUID,
        is_internal=False,
        partitions=(),
        topic_authorized_operations=AUTHORIZED_OPERATIONS_UNKNOWN,
    )


def topic_entry(ctx: RequestContext, topic: TopicImage) -> wire.MetadataResponseTopic:
    live = set(ctx.services.image.brokers)
    partitions = tuple(
        wire.MetadataResponsePartition(
            error_code=ErrorCode.none if state.leader in live else ErrorCode.leader_not_available,
            partition_index=state.partition,
            leader_id=state.leader,
            leader_epoch=state.leader_epoch,
            replica_nodes=state.replicas,
            isr_nodes=state.isr,
            offline_replicas=tuple(r for r in state.replicas if r not in live),
        )
        for state in sorted(topic.partitions.values(), key=lambda s: s.partition)
    )
    return wire.MetadataResponseTopic(
        error_code=ErrorCode.none,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=partitions,
        topic_authorized_operations=AUTHORIZED_OPERATIONS_UNKNOWN,
    )
