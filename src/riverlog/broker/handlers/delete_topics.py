"""DeleteTopics (key 20): delete topics by name, or (v6) by topic id.

Kafka's rules (KRaft controller): with `delete.topic.enable=false` every topic answers
TOPIC_DELETION_DISABLED (INVALID_REQUEST before v3, which lacks that code). A name or id given twice
answers INVALID_REQUEST once; an entry with both a name and an id, or neither, is INVALID_REQUEST. An
unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID. v6 answers both the name and
the id of each deleted topic. The partitions' logs go when the replica manager follows the new image.
"""

from __future__ import annotations

import uuid
from collections import Counter

from kio.schema.errors import ErrorCode

from riverlog.broker.admin.topics import AdminError
from riverlog.broker.handlers._mutation_quota import MutationQuota
from riverlog.broker.network.context import RequestContext
from riverlog.protocol.messages.delete_topics import (
    DeletableTopicResult,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 20
MIN_VERSION = 1
MAX_VERSION = 6
REQUEST = DeleteTopicsRequest
STRICT_QUOTA_SINCE = 5  # KIP-599
ZERO_UUID = uuid.UUID(int=0)

Target = tuple[str | None, uuid.UUID | None]


async def handle(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    if ctx.version >= 6:
        targets: list[Target] = [(t.name, _id(t.topic_id)) for t in request.topics]
    else:
        targets = [(name, None) for name in request.topic_names]
    quota = MutationQuota(ctx, STRICT_QUOTA_SINCE)
    if not ctx.services.config.get_bool("delete.topic.enable"):
        code = ErrorCode.topic_deletion_disabled if ctx.version >= 3 else ErrorCode.invalid_request
        disabled = AdminError(code, "Topic deletion is disabled.")
        results = [_result(ctx, name, topic_id, disabled) for name, topic_id in targets]
    else:
        results = _delete_all(ctx, targets, quota)
    return DeleteTopicsResponse(throttle_time=quota.throttle_time(), responses=tuple(results))


def _id(topic_id: uuid.UUID | None) -> uuid.UUID | None:
    return None if topic_id in (None, ZERO_UUID) else topic_id


def _delete_all(
    ctx: RequestContext, targets: list[Target], quota: MutationQuota
) -> list[DeletableTopicResult]:
    counts = Counter(targets)
    results: list[DeletableTopicResult] = []
    answered: set[Target] = set()
    for name, topic_id in targets:
        if (name, topic_id) in answered:
            continue
        answered.add((name, topic_id))
        if counts[(name, topic_id)] > 1:
            what = "name" if topic_id is None else "id"
            error = AdminError(ErrorCode.invalid_request, f"Duplicate topic {what}.")
            results.append(_result(ctx, name, topic_id, error))
        else:
            results.append(_delete(ctx, name, topic_id, quota))
    return results


def _delete(
    ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None, quota: MutationQuota
) -> DeletableTopicResult:
    image = ctx.services.image
    if name is not None and topic_id is not None:
        error = AdminError(
            ErrorCode.invalid_request, "You may not specify both topic name and topic id."
        )
        return _result(ctx, name, topic_id, error)
    if name is None and topic_id is None:
        error = AdminError(ErrorCode.invalid_request, "Neither topic name nor id were specified.")
        return _result(ctx, None, None, error)
    if topic_id is not None:
        by_id = image.topic_by_id(topic_id)
        if by_id is None:
            error = AdminError(ErrorCode.unknown_topic_id, f"No topic with id {topic_id}.")
            return _result(ctx, None, topic_id, error)
        name = by_id.name
    assert name is not None
    topic = image.topic(name)
    found_id = topic.topic_id if topic is not None else None
    if not ctx.authorized(AclOperation.DELETE, ResourceType.TOPIC, name):
        error = AdminError(ErrorCode.topic_authorization_failed, "Authorization failed.")
        return _result(ctx, name, found_id, error)
    if quota.refused():
        error = AdminError(
            ErrorCode.throttling_quota_exceeded, "The throttling quota has been exceeded."
        )
        return _result(ctx, name, found_id, error)
    deleted = ctx.services.topics.delete_topic(name)
    if deleted is None and topic is not None:
        quota.record(len(topic.partitions))
    return _result(ctx, name, found_id, deleted)


def _result(
    ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None, error: AdminError | None
) -> DeletableTopicResult:
    return DeletableTopicResult(
        name=name,
        topic_id=topic_id or ZERO_UUID,
        error_code=ErrorCode.none if error is None else error.code,
        error_message=None if error is None else error.message,
    )
