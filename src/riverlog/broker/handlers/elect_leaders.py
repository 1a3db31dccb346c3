"""ElectLeaders (key 43): preferred or unclean leader election on demand (KIP-183, KIP-460).

Kafka's rules: PREFERRED (0) makes the first assigned replica the leader when it is live and in the ISR
(ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise); UNCLEAN (1)
elects only for a partition without a live leader — from the live ISR, else from any live replica
(ELIGIBLE_LEADERS_NOT_AVAILABLE when none). A null partition list means every partition (v1+).
Kafka forwards the request to the controller; riverlog's broker writes the same decision itself with a
compare-and-set on the partition state, so it cannot overwrite a newer controller decision.
"""

from __future__ import annotations

import asyncio

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata.election import elect_leader, elect_preferred
from riverlog.metadata.image import ClusterImage, PartitionState
from riverlog.metadata.zk_format import LeaderAndIsr
from riverlog.protocol.messages.elect_leaders import (
    ElectLeadersRequest,
    ElectLeadersResponse,
    PartitionResult,
    ReplicaElectionResult,
    TopicPartitions,
)
from riverlog.security.acl import AclOperation

API_KEY = 43
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = ElectLeadersRequest
PREFERRED, UNCLEAN = 0, 1
Outcome = tuple[ErrorCode, str | None]


async def handle(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    election = request.election_type
    if not ctx.cluster_authorized(AclOperation.ALTER):
        return ElectLeadersResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            replica_election_results=(),
        )
    image = ctx.services.image
    wanted = _wanted(image, request.topic_partitions)
    keys = list(wanted)
    outcomes = await asyncio.gather(*(_elect(ctx, image, t, p, election) for t, p in keys))
    by_topic: dict[str, list[PartitionResult]] = {}
    for (topic, partition), (code, message) in zip(keys, outcomes, strict=True):
        by_topic.setdefault(topic, []).append(
            PartitionResult(partition_id=partition, error_code=code, error_message=message)
        )
    results = tuple(
        ReplicaElectionResult(topic=topic, partition_result=tuple(parts))
        for topic, parts in by_topic.items()
    )
    return ElectLeadersResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        replica_election_results=results,
    )


def _wanted(
    image: ClusterImage, topic_partitions: tuple[TopicPartitions, ...] | None
) -> dict[tuple[str, int], None]:
    if topic_partitions is None:
        return {(t.name, p): None for t in image.topics.values() for p in sorted(t.partitions)}
    return {(tp.topic, p): None for tp in topic_partitions for p in tp.partitions}


async def _elect(
    ctx: RequestContext, image: ClusterImage, topic: str, partition: int, election: int
) -> Outcome:
    found = image.topics.get(topic)
    state = None if found is None else found.partitions.get(partition)
    if state is None:
        return ErrorCode.unknown_topic_or_partition, f"{topic}-{partition} does not exist"
    live = set(image.brokers)
    decision, failure = _decide(state, live, election)
    if decision is None:
        return failure
    writer = ctx.services.replicas.state_writer
    if writer is None:
        return ErrorCode.election_not_needed, None
    version = await writer.alter_partition(topic, partition, decision, state.partition_epoch)
    if version is None:
        return ErrorCode.not_controller, "The partition state changed meanwhile; try again."
    return ErrorCode.none, None


def _decide(
    state: PartitionState, live: set[int], election: int
) -> tuple[LeaderAndIsr | None, Outcome]:
    if election == PREFERRED:
        decision = elect_preferred(state, live)
        if decision is not None:
            return decision, (ErrorCode.none, None)
        if state.replicas[:1] == (state.leader,):
            return None, (ErrorCode.election_not_needed, None)
        return None, (
            ErrorCode.preferred_leader_not_available,
            f"Failed to elect leader for partition {state.partition}: the preferred replica "
            f"{state.replicas[0] if state.replicas else -1} is not live and in sync.",
        )
    if election != UNCLEAN:
        return None, (ErrorCode.invalid_request, f"Unknown election type {election}")
    if state.leader in live:
        return None, (ErrorCode.election_not_needed, None)
    decision = elect_leader(state, live, unclean=True)
    if decision is None or decision.leader < 0:
        return None, (
            ErrorCode.eligible_leaders_not_available,
            f"No live replica can lead partition {state.partition}.",
        )
    return decision, (ErrorCode.none, None)
