"""Fetch (key 1): read batches as bytes, long-poll until min bytes or max wait, KIP-227 sessions.

Steps: resolve the session and the partitions to read; refuse the partitions the client may not read;
hand the rest to `FetchManager.fetch` (the reads and the long-poll, see
riverlog.broker.replication.fetch_manager); answer — an incremental session lists only partitions
whose data or offsets changed.

Fetch from follower (KIP-392, `riverlog.broker.replication.replica_selector`): with
`replica.selector.class` set, a leader answers a consumer that sends its rack (v11+) with the preferred
read replica and no records when another replica suits it better; any replica serves such consumers,
up to its own high watermark.
Followers, and consumers before v11, are served by the leader only (NOT_LEADER_OR_FOLLOWER elsewhere).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.replication.fetch_manager import (
    FetchParams,
    FetchPartition,
    PartitionRead,
    fetch_replica_id,
)
from riverlog.broker.replication.fetch_sessions import CachedPartition, FetchSession, PartitionKey
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.protocol.fetch_response import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from riverlog.protocol.messages import fetch as wire
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 1
MIN_VERSION = 4
MAX_VERSION = 17
REQUEST = wire.FetchRequest
READ_COMMITTED = 1
TOPIC_IDS_FROM = 13
RACK_FROM = 11
Wanted = FetchPartition


class SessionError(Exception):
    def __init__(self, code: ErrorCode) -> None:
        self.code = code


async def handle(ctx: RequestContext, request: wire.FetchRequest) -> FetchResponse:
    try:
        session, wanted, incremental = _resolve_session(ctx, request)
    except SessionError as exc:
        return FetchResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=exc.code,
            session_id=0,
            responses=(),
        )
    params = _params(ctx, request)
    _authorize(ctx, wanted, params.replica_id)
    results = await ctx.services.fetches.fetch(params, wanted, ctx.services.image.brokers)
    metrics = ctx.services.metrics
    for r in results:
        if r.records:
            metrics.fetched(r.wanted.key[0], len(r.records))
    if session is not None:
        results = _update_session(session, results, incremental)
    return FetchResponse(  # plain types: riverlog.protocol's specialised codec (hot path)
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        session_id=session.session_id if session else 0,
        responses=tuple(_topic_responses(ctx, results)),
    )


# --- sessions ---


def _resolve_session(
    ctx: RequestContext, request: wire.FetchRequest
) -> tuple[FetchSession | None, list[Wanted], bool]:
    cache = ctx.services.fetch_sessions
    session_id = request.session_id
    epoch = request.session_epoch
    requested = list(_requested_partitions(ctx, request))
    if session_id == 0:
        session = cache.create() if epoch == 0 else None
        if session is not None:
            session.partitions = {
                w.key: CachedPartition(w.fetch_offset, w.max_bytes) for w in requested
            }
        return session, requested, False
    if epoch == -1:
        cache.remove(session_id)
        return None, requested, False
    session = cache.get(session_id)
    if session is None:
        raise SessionError(ErrorCode.fetch_session_id_not_found)
    if epoch != session.epoch:
        raise SessionError(ErrorCode.invalid_fetch_session_epoch)
    session.epoch += 1
    for key in _forgotten(ctx, request):
        session.partitions.pop(key, None)
    for w in requested:
        cached = session.partitions.get(w.key)
        if cached is None:
            session.partitions[w.key] = CachedPartition(w.fetch_offset, w.max_bytes)
        else:
            cached.fetch_offset, cached.max_bytes = w.fetch_offset, w.max_bytes
    topic_ids = {w.key: w.topic_id for w in requested}
    wanted = [
        Wanted(key, topic_ids.get(key) or _topic_id(ctx, key[0]), c.fetch_offset, c.max_bytes)
        for key, c in session.partitions.items()
    ]
    return session, wanted, True


def _requested_partitions(ctx: RequestContext, request: wire.FetchRequest) -> Iterable[Wanted]:
    image = ctx.services.image
    for topic in request.topics:
        topic_id = topic.topic_id
        unknown = False
        if ctx.version >= TOPIC_IDS_FROM:
            found = image.topic_by_id(topic_id) if topic_id is not None else None
            name = found.name if found else f"<unknown {topic_id}>"
            unknown = found is None
        else:
            name = topic.topic
            topic_id = _topic_id(ctx, name)
        for p in topic.partitions:
            yield Wanted(
                (name, p.partition),
                topic_id,
                p.fetch_offset,
                p.partition_max_bytes,
                p.current_leader_epoch,
                ErrorCode.unknown_topic_id if unknown else None,
            )


def _forgotten(ctx: RequestContext, request: wire.FetchRequest) -> Iterable[PartitionKey]:
    image = ctx.services.image
    for topic in request.forgotten_topics_data:
        if ctx.version >= TOPIC_IDS_FROM:
            topic_id = topic.topic_id
            found = image.topic_by_id(topic_id) if topic_id is not None else None
            name = found.name if found else f"<unknown {topic_id}>"
        else:
            name = topic.topic
        for partition in topic.partitions:
            yield (name, partition)


def _topic_id(ctx: RequestContext, name: str) -> uuid.UUID | None:
    topic = ctx.services.image.topic(name)
    return topic.topic_id if topic else None


def _update_session(
    session: FetchSession, results: list[PartitionRead], incremental: bool
) -> list[PartitionRead]:
    """Remember what each partition was told; for incremental fetches keep only the changes."""
    kept = []
    for r in results:
        cached = session.partitions.get(r.wanted.key)
        if cached is None:
            continue
        changed = (
            r.error != ErrorCode.none
            or r.records
            or (cached.high_watermark, cached.last_stable_offset, cached.log_start_offset)
            != (r.high_watermark, r.last_stable_offset, r.log_start_offset)
        )
        cached.high_watermark = r.high_watermark
        cached.last_stable_offset = r.last_stable_offset
        cached.log_start_offset = r.log_start_offset
        if changed or not incremental:
            kept.append(r)
    return kept


# --- translating ---


def _params(ctx: RequestContext, request: wire.FetchRequest) -> FetchParams:
    return FetchParams(
        replica_id=fetch_replica_id(request),
        # KIP-392 client metadata from v11 on (an empty rack included); None: no metadata sent
        rack=request.rack_id if ctx.version >= RACK_FROM else None,
        max_wait_ms=millis(request.max_wait),
        min_bytes=request.min_bytes,
        max_bytes=request.max_bytes,
        read_committed=request.isolation_level == READ_COMMITTED,
    )


def _authorize(ctx: RequestContext, wanted: list[Wanted], replica_id: int) -> None:
    """KafkaApis: followers need CLUSTER_ACTION on the cluster, consumers READ on each topic; a
    partition refused here is answered with the error and not read."""
    cluster = replica_id >= 0 and ctx.cluster_authorized(AclOperation.CLUSTER_ACTION)
    for w in wanted:
        if w.error is not None:
            continue
        allowed = (
            cluster
            if replica_id >= 0
            else ctx.authorized(AclOperation.READ, ResourceType.TOPIC, w.key[0])
        )
        if not allowed:
            w.error = ErrorCode.topic_authorization_failed


# --- response ---


def _topic_responses(
    ctx: RequestContext, results: list[PartitionRead]
) -> list[FetchableTopicResponse]:
    by_topic: dict[str, list[PartitionRead]] = {}
    for r in results:
        by_topic.setdefault(r.wanted.key[0], []).append(r)
    return [
        FetchableTopicResponse(
            topic=name,
            topic_id=group[0].wanted.topic_id or uuid.UUID(int=0),
            partitions=tuple(_partition_data(ctx, r) for r in group),
        )
        for name, group in by_topic.items()
    ]


def _partition_data(ctx: RequestContext, r: PartitionRead) -> PartitionData:
    aborted = None
    if r.aborted is not None:
        aborted = tuple(
            AbortedTransaction(producer_id=pid, first_offset=first) for pid, first in r.aborted
        )
    return PartitionData(
        partition_index=r.wanted.key[1],
        error_code=r.error,
        high_watermark=r.high_watermark,
        last_stable_offset=r.last_stable_offset,
        log_start_offset=r.log_start_offset,
        aborted_transactions=aborted,
        preferred_read_replica=r.preferred_read_replica,
        records=r.records,
    )
