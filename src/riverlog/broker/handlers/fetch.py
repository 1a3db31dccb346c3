"""Fetch (key 1): read batches as bytes, long-poll until min bytes or max wait, KIP-227 sessions.

Steps: resolve the session and the partitions to read; read each partition (whole batches from one
segment, bounded by the high watermark or, for read_committed, the last stable offset); if fewer than
`min_bytes` came back and no partition has an error, wait in the purgatory for an append to any of them,
then read again; answer — an incremental session lists only partitions whose data or offsets changed.
The first partition with data may exceed the byte limits by one batch so consumers always progress.

Fetch from follower (KIP-392, `riverlog.broker.replica_selector`): with `replica.selector.class` set, a
leader answers a consumer that sends its rack (v11+) with the preferred read replica and no records when
another replica suits it better; any replica serves such consumers, up to its own high watermark.
Followers, and consumers before v11, are served by the leader only (NOT_LEADER_OR_FOLLOWER elsewhere).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.fetch_sessions import CachedPartition, FetchSession, PartitionKey
from riverlog.broker.replica_manager import Partition
from riverlog.broker.replica_selector import (
    NO_PREFERRED_REPLICA,
    ReplicaView,
    preferred_read_replica,
)
from riverlog.broker.responses import ZERO_THROTTLE, millis
from riverlog.protocol.fetch_response import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from riverlog.security.acl import AclOperation, ResourceType
from riverlog.storage.errors import OffsetOutOfRangeError

API_KEY = 1
MIN_VERSION = 4
MAX_VERSION = 17
READ_COMMITTED = 1
TOPIC_IDS_FROM = 13


@dataclass(slots=True)
class Wanted:
    key: PartitionKey
    topic_id: uuid.UUID | None
    fetch_offset: int
    max_bytes: int
    unknown_id: bool = False
    leader_epoch: int = -1


@dataclass(slots=True)
class PartitionResult:
    wanted: Wanted
    error: ErrorCode
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    aborted: list[tuple[int, int]] | None = None
    preferred_read_replica: int = NO_PREFERRED_REPLICA


@dataclass(frozen=True, slots=True)
class FetchClient:
    """Who is fetching: a follower's broker id (or -1 for a consumer) and, from v11 on, the
    consumer's rack (KIP-392 client metadata; None before v11)."""

    replica_id: int
    rack: str | None


class SessionError(Exception):
    def __init__(self, code: ErrorCode) -> None:
        self.code = code


async def handle(ctx: RequestContext, request: Any) -> Any:
    try:
        session, wanted, incremental = _resolve_session(ctx, request)
    except SessionError as exc:
        return FetchResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=exc.code,
            session_id=0,
            responses=(),
        )
    results = await _read_with_long_poll(ctx, request, wanted)
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
    ctx: RequestContext, request: Any
) -> tuple[FetchSession | None, list[Wanted], bool]:
    cache = ctx.services.fetch_sessions
    session_id = getattr(request, "session_id", 0)
    epoch = getattr(request, "session_epoch", -1)
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


def _requested_partitions(ctx: RequestContext, request: Any) -> Iterable[Wanted]:
    image = ctx.services.image
    for topic in request.topics:
        topic_id = getattr(topic, "topic_id", None)
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
                unknown,
                getattr(p, "current_leader_epoch", -1),
            )


def _forgotten(ctx: RequestContext, request: Any) -> Iterable[PartitionKey]:
    image = ctx.services.image
    for topic in getattr(request, "forgotten_topics_data", ()):
        if ctx.version >= TOPIC_IDS_FROM:
            found = image.topic_by_id(topic.topic_id)
            name = found.name if found else f"<unknown {topic.topic_id}>"
        else:
            name = topic.topic
        for partition in topic.partitions:
            yield (name, partition)


def _topic_id(ctx: RequestContext, name: str) -> uuid.UUID | None:
    topic = ctx.services.image.topic(name)
    return topic.topic_id if topic else None


def _update_session(
    session: FetchSession, results: list[PartitionResult], incremental: bool
) -> list[PartitionResult]:
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


# --- reading ---


async def _read_with_long_poll(
    ctx: RequestContext, request: Any, wanted: list[Wanted]
) -> list[PartitionResult]:
    deadline = time.monotonic() + millis(request.max_wait) / 1000
    while True:
        results = _read_all(ctx, request, wanted)
        total = sum(len(r.records) for r in results)
        # An error, or a preferred read replica to move to, is answered at once (as Kafka).
        errors = any(
            r.error != ErrorCode.none or r.preferred_read_replica != NO_PREFERRED_REPLICA
            for r in results
        )
        remaining = deadline - time.monotonic()
        if total >= request.min_bytes or errors or remaining <= 0 or not wanted:
            return results
        await ctx.services.replicas.purgatory.wait([w.key for w in wanted], remaining)


def _replica_id(request: Any) -> int:
    state = getattr(request, "replica_state", None)
    if state is not None and state.replica_id >= 0:
        return int(state.replica_id)
    return int(getattr(request, "replica_id", -1))


def _read_all(ctx: RequestContext, request: Any, wanted: list[Wanted]) -> list[PartitionResult]:
    budget = request.max_bytes
    min_one = True
    committed = getattr(request, "isolation_level", 0) == READ_COMMITTED
    rack = getattr(request, "rack_id", None)
    client = FetchClient(_replica_id(request), None if rack is None else str(rack))
    results = []
    for w in wanted:
        result = _read_partition(
            ctx, w, min(w.max_bytes, max(budget, 0)), min_one, committed, client
        )
        budget -= len(result.records)
        min_one = min_one and not result.records
        results.append(result)
    return results


def _fetch_authorized(ctx: RequestContext, topic: str, replica_id: int) -> bool:
    """KafkaApis: followers need CLUSTER_ACTION on the cluster, consumers READ on the topic."""
    if replica_id >= 0:
        return ctx.cluster_authorized(AclOperation.CLUSTER_ACTION)
    return ctx.authorized(AclOperation.READ, ResourceType.TOPIC, topic)


def _read_partition(
    ctx: RequestContext,
    w: Wanted,
    max_bytes: int,
    min_one: bool,
    committed: bool,
    client: FetchClient,
) -> PartitionResult:
    if w.unknown_id:
        return PartitionResult(w, ErrorCode.unknown_topic_id)
    if not _fetch_authorized(ctx, w.key[0], client.replica_id):
        return PartitionResult(w, ErrorCode.topic_authorization_failed)
    part = ctx.services.replicas.get(*w.key)
    if part is None:
        return PartitionResult(w, ErrorCode.unknown_topic_or_partition)
    follower = client.replica_id >= 0
    # KIP-392: a consumer that sends client metadata (v11+) may read from a follower, up to the
    # follower's high watermark; followers and older consumers read from the leader only.
    is_leader = part.leader == ctx.services.broker_id
    if not is_leader and (follower or client.rack is None):
        return PartitionResult(w, ErrorCode.not_leader_or_follower)
    if 0 <= w.leader_epoch != part.leader_epoch:
        fenced = w.leader_epoch < part.leader_epoch
        return PartitionResult(
            w, ErrorCode.fenced_leader_epoch if fenced else ErrorCode.unknown_leader_epoch
        )
    if follower:
        ctx.services.replicas.record_follower_fetch(part, client.replica_id, w.fetch_offset)
    plog = part.log
    hw, lso = plog.high_watermark, plog.last_stable_offset
    upper = None if follower else (lso if committed else hw)
    result = PartitionResult(w, ErrorCode.none, hw, lso, plog.log_start_offset)
    if is_leader and not follower and client.rack is not None:
        result.preferred_read_replica = _preferred_read_replica(ctx, part, client.rack, w)
        if result.preferred_read_replica != NO_PREFERRED_REPLICA:
            return result  # no records: the consumer moves to that replica
    try:
        records = plog.read(w.fetch_offset, max_bytes, max_offset=upper, min_one=min_one).read()
    except OffsetOutOfRangeError:
        result.error = ErrorCode.offset_out_of_range
        return result
    result.records = records
    if committed:
        end = w.fetch_offset + 1 if not records else lso
        result.aborted = plog.aborted_transactions(w.fetch_offset, max(end, w.fetch_offset + 1))
    return result


def _preferred_read_replica(ctx: RequestContext, part: Partition, rack: str, w: Wanted) -> int:
    """KIP-392 on the leader: the replica the consumer should read from, or -1 (this one)."""
    selector = ctx.services.config.get_str("replica.selector.class")
    if not selector:
        return NO_PREFERRED_REPLICA
    brokers = ctx.services.image.brokers

    def view(broker_id: int, leo: int, caught_up_ms: int) -> ReplicaView:
        return ReplicaView(broker_id, brokers[broker_id].rack, leo, caught_up_ms)

    now = ctx.services.clock.now_ms()
    leader = view(part.leader, part.log.log_end_offset, now)
    followers = [
        view(broker_id, state.log_end_offset, state.last_caught_up_ms)
        for broker_id, state in part.followers.items()
        if broker_id in brokers and broker_id in part.replicas
    ]
    return preferred_read_replica(selector, leader, followers, rack, w.fetch_offset)


# --- response ---


def _topic_responses(ctx: RequestContext, results: list[PartitionResult]) -> list[Any]:
    by_topic: dict[str, list[PartitionResult]] = {}
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


def _partition_data(ctx: RequestContext, r: PartitionResult) -> Any:
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
