"""OffsetFetch (key 9): committed offsets of a group (v1-v7), or of several groups (v8+).

A partition without a committed offset answers offset -1 and no error, as does a group that does not
exist; `topics` null (v2+) means every committed offset of the group. Group-level errors (NOT_COORDINATOR)
go in the top-level error from v2, per group from v8, and per partition in v1. v9 carries the member id
and epoch of a KIP-848 member (STALE_MEMBER_EPOCH when outdated). `require_stable` (v7+)
matters only for pending transactional offsets, which riverlog does not have yet.

Authorization (Kafka's KafkaApis): DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED; asked for
named topics, a topic the principal may not DESCRIBE answers TOPIC_AUTHORIZATION_FAILED per partition
(offset -1, after the authorized topics); asked for every topic (`topics` null), such topics are left
out of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import CoordinatorError
from riverlog.broker.handlers._authz import require
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import FetchedOffset, OffsetFetchResult
from riverlog.protocol.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 9
MIN_VERSION = 1
MAX_VERSION = 9
REQUEST = OffsetFetchRequest


class RequestedTopic(Protocol):
    """A topic asked for: OffsetFetchRequestTopic (v1-v7) or OffsetFetchRequestTopics (v8+)."""

    @property
    def name(self) -> str: ...

    @property
    def partition_indexes(self) -> tuple[int, ...]: ...


async def handle(ctx: RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse:
    if ctx.version >= 8:
        stable = bool(request.require_stable)
        groups = tuple(_group(ctx, g, stable) for g in request.groups)
        return OffsetFetchResponse(throttle_time=ZERO_THROTTLE, groups=groups)
    stable = bool(request.require_stable)
    result = fetch(ctx, request.group_id, request.topics, require_stable=stable)
    if ctx.version < 2 and result.error is not ErrorCode.none:
        result = _errors_per_partition(request.topics, result.error)
    topics = _topics(result)
    return OffsetFetchResponse(throttle_time=ZERO_THROTTLE, topics=topics, error_code=result.error)


def fetch(
    ctx: RequestContext,
    group_id: str,
    topics: Sequence[RequestedTopic] | None,
    member_id: str | None = None,
    member_epoch: int = -1,
    require_stable: bool = False,
) -> OffsetFetchResult:
    """KIP-447: with `require_stable`, an offset still held by an open transaction answers
    UNSTABLE_OFFSET_COMMIT (the client retries) instead of the last committed one."""
    wanted = None if topics is None else [(t.name, t.partition_indexes) for t in topics]
    denied: list[tuple[str, tuple[int, ...]]] = []
    if wanted is not None:
        denied = [w for w in wanted if not _may_describe(ctx, w[0])]
        wanted = [w for w in wanted if _may_describe(ctx, w[0])]
    try:
        require(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id)
        result = ctx.services.groups.read(
            group_id,
            lambda shard: shard.fetch_offsets(
                group_id, wanted, member_id, member_epoch, require_stable
            ),
        )
    except CoordinatorError as exc:
        return OffsetFetchResult(exc.code)
    if wanted is None:  # every topic: the ones the principal may not describe are left out
        allowed = tuple(t for t in result.topics if _may_describe(ctx, t[0]))
        return OffsetFetchResult(result.error, allowed)
    if not denied:
        return result
    unauthorized = tuple(
        (
            name,
            tuple(
                FetchedOffset(int(p), error=ErrorCode.topic_authorization_failed)
                for p in partitions
            ),
        )
        for name, partitions in denied
    )
    return OffsetFetchResult(result.error, result.topics + unauthorized)


def _may_describe(ctx: RequestContext, topic: str) -> bool:
    return ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, topic)


def _errors_per_partition(
    topics: Sequence[RequestedTopic] | None, error: ErrorCode
) -> OffsetFetchResult:
    return OffsetFetchResult(
        error,
        tuple(
            (t.name, tuple(FetchedOffset(p, error=error) for p in t.partition_indexes))
            for t in topics or ()
        ),
    )


def _group(
    ctx: RequestContext, group: OffsetFetchRequestGroup, require_stable: bool
) -> OffsetFetchResponseGroup:
    member_id = group.member_id  # v9: KIP-848 members say who they are
    result = fetch(
        ctx,
        group.group_id,
        group.topics,
        member_id,
        group.member_epoch,
        require_stable,
    )
    return OffsetFetchResponseGroup(
        group_id=group.group_id,
        topics=_group_topics(result),
        error_code=result.error,
    )


def _topics(result: OffsetFetchResult) -> tuple[OffsetFetchResponseTopic, ...]:
    """v1-v7: the one group's offsets."""
    return tuple(
        OffsetFetchResponseTopic(
            name=topic,
            partitions=tuple(
                OffsetFetchResponsePartition(
                    partition_index=p.partition,
                    committed_offset=p.offset,
                    committed_leader_epoch=p.leader_epoch,
                    metadata=p.metadata,
                    error_code=p.error,
                )
                for p in partitions
            ),
        )
        for topic, partitions in result.topics
    )


def _group_topics(result: OffsetFetchResult) -> tuple[OffsetFetchResponseTopics, ...]:
    """v8+: one group's offsets, in the per-group structs."""
    return tuple(
        OffsetFetchResponseTopics(
            name=topic,
            partitions=tuple(
                OffsetFetchResponsePartitions(
                    partition_index=p.partition,
                    committed_offset=p.offset,
                    committed_leader_epoch=p.leader_epoch,
                    metadata=p.metadata,
                    error_code=p.error,
                )
                for p in partitions
            ),
        )
        for topic, partitions in result.topics
    )
