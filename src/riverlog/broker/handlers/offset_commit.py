"""OffsetCommit (key 8): store consumed positions in `__consumer_offsets`.

Versions 2-9 (Kafka 4.0's range). Partitions of topics or partitions that do not exist are answered
UNKNOWN_TOPIC_OR_PARTITION here, as Kafka's request handler does; the rest go to the group coordinator,
which checks membership and generation (`riverlog.coordinator.group.offsets`). v2-v4 may carry a
retention time (stored as the offset's expire timestamp); v7+ carries `group.instance.id`.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.coordinator.group.messages import OffsetCommitRequest, PartitionCommit
from riverlog.protocol.messages import offset_commit as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 8
MIN_VERSION = 2
MAX_VERSION = 9
REQUEST = wire.OffsetCommitRequest


async def handle(
    ctx: RequestContext, request: wire.OffsetCommitRequest
) -> wire.OffsetCommitResponse:
    image = ctx.services.image
    answers: dict[str, dict[int, ErrorCode]] = {}
    known: list[tuple[str, tuple[PartitionCommit, ...]]] = []
    for topic in request.topics:
        described = image.topic(topic.name)
        commits = []
        readable = ctx.authorized(AclOperation.READ, ResourceType.TOPIC, topic.name)
        for p in topic.partitions:
            if not readable:
                answers.setdefault(topic.name, {})[p.partition_index] = (
                    ErrorCode.topic_authorization_failed
                )
                continue
            if described is None or p.partition_index not in described.partitions:
                answers.setdefault(topic.name, {})[p.partition_index] = (
                    ErrorCode.unknown_topic_or_partition
                )
                continue
            commits.append(
                PartitionCommit(
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.committed_metadata,
                )
            )
        if commits:
            known.append((topic.name, tuple(commits)))
    req = OffsetCommitRequest(
        group_id=request.group_id,
        topics=tuple(known),
        generation_id=request.generation_id_or_member_epoch,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id,
        retention_time_ms=millis(request.retention_time),  # -1 (the broker's) when not sent
        api_version=ctx.version,
    )
    await _commit(ctx, req, answers)
    return _response(ctx, request, answers)


async def _commit(
    ctx: RequestContext, req: OffsetCommitRequest, answers: dict[str, dict[int, ErrorCode]]
) -> None:
    if not req.topics:
        return
    try:
        require(ctx, AclOperation.READ, ResourceType.GROUP, req.group_id)
        result = await ctx.services.groups.execute(
            req.group_id, lambda shard, _ticket, now: shard.commit_offsets(req, now)
        )
    except CoordinatorError as exc:
        for topic, commits in req.topics:
            for commit in commits:
                answers.setdefault(topic, {})[commit.partition] = exc.code
        return
    for topic, errors in result.topics:
        for partition, error in errors:
            answers.setdefault(topic, {})[partition] = error


def _response(
    ctx: RequestContext,
    request: wire.OffsetCommitRequest,
    answers: dict[str, dict[int, ErrorCode]],
) -> wire.OffsetCommitResponse:
    topics = tuple(
        wire.OffsetCommitResponseTopic(
            name=topic.name,
            partitions=tuple(
                wire.OffsetCommitResponsePartition(
                    partition_index=p.partition_index,
                    error_code=answers.get(topic.name, {}).get(p.partition_index, ErrorCode.none),
                )
                for p in topic.partitions
            ),
        )
        for topic in request.topics
    )
    return wire.OffsetCommitResponse(throttle_time=ZERO_THROTTLE, topics=topics)
