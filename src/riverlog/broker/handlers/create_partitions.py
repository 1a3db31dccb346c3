"""CreatePartitions (key 37): raise a topic's partition count, optionally with a manual assignment.

Per topic (Kafka's KRaft controller): a name given twice answers INVALID_REQUEST; otherwise
`TopicAdmin.create_partitions` checks that the topic exists (UNKNOWN_TOPIC_OR_PARTITION), that the count
grows (INVALID_PARTITIONS), and the assignment (INVALID_REPLICA_ASSIGNMENT: one replica list per new
partition, of the topic's replication factor, known distinct brokers). `validate_only` commits nothing.
"""

from __future__ import annotations

from collections import Counter

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError
from riverlog.broker.handlers._mutation_quota import MutationQuota
from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 37
MIN_VERSION = 0
MAX_VERSION = 3
REQUEST = CreatePartitionsRequest
STRICT_QUOTA_SINCE = 3  # KIP-599


async def handle(ctx: RequestContext, request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    counts = Counter(topic.name for topic in request.topics)
    results: list[CreatePartitionsTopicResult] = []
    answered: set[str] = set()
    quota = MutationQuota(ctx, STRICT_QUOTA_SINCE)
    for topic in request.topics:
        if topic.name in answered:
            continue
        answered.add(topic.name)
        if counts[topic.name] > 1:
            error: AdminError | None = AdminError(
                ErrorCode.invalid_request, "Duplicate topic name."
            )
        elif not ctx.authorized(AclOperation.ALTER, ResourceType.TOPIC, topic.name):
            error = AdminError(ErrorCode.topic_authorization_failed, "Authorization failed.")
        elif quota.refused():
            error = AdminError(
                ErrorCode.throttling_quota_exceeded, "The throttling quota has been exceeded."
            )
        else:
            before = ctx.services.image.topic(topic.name)
            assignments = (
                [tuple(a.broker_ids) for a in topic.assignments] if topic.assignments else None
            )
            error = ctx.services.topics.create_partitions(
                topic.name, topic.count, assignments, request.validate_only
            )
            if error is None and before is not None and not request.validate_only:
                quota.record(topic.count - len(before.partitions))
        results.append(_result(ctx, topic.name, error))
    return CreatePartitionsResponse(throttle_time=quota.throttle_time(), results=tuple(results))


def _result(
    ctx: RequestContext, name: str, error: AdminError | None
) -> CreatePartitionsTopicResult:
    return CreatePartitionsTopicResult(
        name=name,
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
    )
