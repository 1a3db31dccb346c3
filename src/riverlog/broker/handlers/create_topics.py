"""CreateTopics (key 19): validate and create topics, or only validate (`validate_only`).

Per topic (Kafka's KRaft controller): a name that appears more than once in the request answers one
INVALID_REQUEST for that name; otherwise `TopicAdmin.create_topic` checks name, existence, collisions,
partitions, replication factor, manual assignment and configs. v5+ answers a created (or validated) topic
with its partition count, replication factor and every topic config with value, source and flags, as
Kafka does; v7 adds the topic id. Errors carry an error message.
"""

from __future__ import annotations

import uuid
from collections import Counter

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError
from riverlog.broker.handlers._authz import may_create_topic
from riverlog.broker.handlers._config_entries import topic_entries
from riverlog.broker.handlers._mutation_quota import MutationQuota
from riverlog.broker.network.context import RequestContext
from riverlog.metadata.image import TopicImage
from riverlog.protocol.messages import create_topics as wire

API_KEY = 19
MIN_VERSION = 2
MAX_VERSION = 7
REQUEST = wire.CreateTopicsRequest
ZERO_UUID = uuid.UUID(int=0)
STRICT_QUOTA_SINCE = 6  # KIP-599
CONFIGS_SINCE = 5  # KIP-525: the created topic's configs in the answer


async def handle(
    ctx: RequestContext, request: wire.CreateTopicsRequest
) -> wire.CreateTopicsResponse:
    counts = Counter(topic.name for topic in request.topics)
    results: list[wire.CreatableTopicResult] = []
    answered: set[str] = set()
    quota = MutationQuota(ctx, STRICT_QUOTA_SINCE)
    for topic in request.topics:
        if topic.name in answered:
            continue
        answered.add(topic.name)
        if counts[topic.name] > 1:
            error = AdminError(ErrorCode.invalid_request, "Duplicate topic name.")
            results.append(_error(ctx, topic.name, error))
        elif may_create_topic(ctx, topic.name) and quota.refused():
            results.append(
                _error(
                    ctx,
                    topic.name,
                    AdminError(
                        ErrorCode.throttling_quota_exceeded,
                        "The throttling quota has been exceeded.",
                    ),
                )
            )
        else:
            result = _create(ctx, topic, request.validate_only)
            if not request.validate_only and result.error_code is ErrorCode.none:
                created = ctx.services.image.topic(topic.name)
                quota.record(0 if created is None else len(created.partitions))
            results.append(result)
    return wire.CreateTopicsResponse(throttle_time=quota.throttle_time(), topics=tuple(results))


def _create(
    ctx: RequestContext, topic: wire.CreatableTopic, validate_only: bool
) -> wire.CreatableTopicResult:
    if not may_create_topic(ctx, topic.name):  # KafkaApis: CREATE on the cluster or the topic
        error = AdminError(ErrorCode.topic_authorization_failed, "Authorization failed.")
        return _error(ctx, topic.name, error)
    assignments = {a.partition_index: tuple(a.broker_ids) for a in topic.assignments}
    if len(assignments) != len(topic.assignments):
        error = AdminError(
            ErrorCode.invalid_replica_assignment,
            "The manual partition assignment names a partition more than once.",
        )
        return _error(ctx, topic.name, error)
    result = ctx.services.topics.create_topic(
        topic.name,
        topic.num_partitions,
        topic.replication_factor,
        {c.name: c.value for c in topic.configs},
        assignments,
        validate_only,
    )
    if isinstance(result, AdminError):
        return _error(ctx, topic.name, result)
    return _created(ctx, result)


def _created(ctx: RequestContext, topic: TopicImage) -> wire.CreatableTopicResult:
    first = topic.partitions.get(0)
    return wire.CreatableTopicResult(
        name=topic.name,
        topic_id=topic.topic_id,
        error_code=ErrorCode.none,
        error_message=None,
        num_partitions=len(topic.partitions),
        replication_factor=len(first.replicas) if first is not None else -1,
        configs=_configs(ctx, topic) if ctx.version >= CONFIGS_SINCE else (),
    )


def _configs(ctx: RequestContext, topic: TopicImage) -> tuple[wire.CreatableTopicConfigs, ...]:
    """Every topic config with value, source and flags (v5+), as Kafka's controller answers."""
    return tuple(
        wire.CreatableTopicConfigs(
            name=entry.name,
            value=entry.value,
            read_only=entry.read_only,
            config_source=int(entry.source),
            is_sensitive=entry.is_sensitive,
        )
        for entry in topic_entries(ctx.services.config, topic.configs)
    )


def _error(ctx: RequestContext, name: str, error: AdminError) -> wire.CreatableTopicResult:
    return wire.CreatableTopicResult(
        name=name,
        topic_id=ZERO_UUID,
        error_code=error.code,
        error_message=error.message,
        num_partitions=-1,
        replication_factor=-1,
        configs=(),
    )
