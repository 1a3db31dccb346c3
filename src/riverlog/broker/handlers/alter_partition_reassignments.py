"""AlterPartitionReassignments (key 45): move partitions to new replica sets (KIP-455).

Each partition's target replicas start a reassignment (a null list cancels one in progress): the
replica set becomes target + current, the new replicas catch up as followers, and the controller
completes it once they are all in the ISR (`riverlog.metadata.reassignment`). Errors are Kafka's:
INVALID_REPLICA_ASSIGNMENT for an empty, duplicated or unregistered target, NO_REASSIGNMENT_IN_PROGRESS
for cancelling nothing, UNKNOWN_TOPIC_OR_PARTITION. A single node has no other broker to move to: a target
equal to the current replicas succeeds, anything else is INVALID_REPLICA_ASSIGNMENT.
"""

from __future__ import annotations

import asyncio

from kio.schema.errors import ErrorCode

from riverlog.broker.metadata_store import MetadataUnavailableError
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.metadata import reassignment
from riverlog.metadata.image import ClusterImage
from riverlog.metadata.reassignment import Assignment, ReassignmentError
from riverlog.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
    ReassignablePartitionResponse,
    ReassignableTopic,
    ReassignableTopicResponse,
)
from riverlog.security.acl import AclOperation

API_KEY = 45
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = AlterPartitionReassignmentsRequest
Outcome = tuple[ErrorCode, str | None]


async def handle(
    ctx: RequestContext, request: AlterPartitionReassignmentsRequest
) -> AlterPartitionReassignmentsResponse:
    image = ctx.services.image
    if not ctx.cluster_authorized(AclOperation.ALTER):
        return AlterPartitionReassignmentsResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            error_message="Cluster authorization failed.",
            responses=(),
        )
    responses = []
    for topic in request.topics:
        outcomes, changes = _plan(image, topic)
        if changes:
            store = ctx.services.metadata
            if not hasattr(store, "reassign"):
                message = "A single node has no other broker to move replicas to."
                outcomes = {p: (ErrorCode.invalid_replica_assignment, message) for p in outcomes}
            else:
                try:
                    await asyncio.to_thread(store.reassign, topic.name, changes)
                    refresh = getattr(store, "refresh_now", None)
                    if refresh is not None:
                        refresh()  # answer with the new replica sets in the image
                except MetadataUnavailableError as exc:  # Kafka: the controller timed out
                    failed = (ErrorCode.request_timed_out, str(exc))
                    outcomes = {**outcomes, **dict.fromkeys(changes, failed)}
        partitions = tuple(
            ReassignablePartitionResponse(
                partition_index=p,
                error_code=code,
                error_message=message,
            )
            for p, (code, message) in outcomes.items()
        )
        responses.append(ReassignableTopicResponse(name=topic.name, partitions=partitions))
    return AlterPartitionReassignmentsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        responses=tuple(responses),
    )


def _plan(
    image: ClusterImage, topic: ReassignableTopic
) -> tuple[dict[int, Outcome], dict[int, Assignment]]:
    outcomes: dict[int, Outcome] = {}
    changes: dict[int, Assignment] = {}
    found = image.topics.get(topic.name)
    for p in topic.partitions:
        state = None if found is None else found.partitions.get(p.partition_index)
        if state is None:
            outcomes[p.partition_index] = (
                ErrorCode.unknown_topic_or_partition,
                f"Topic partition {topic.name}-{p.partition_index} does not exist.",
            )
            continue
        in_progress = bool(state.adding_replicas or state.removing_replicas)
        if p.replicas is None:
            if not in_progress:
                outcomes[p.partition_index] = (ErrorCode.no_reassignment_in_progress, None)
                continue
            changes[p.partition_index] = reassignment.cancel(state)
        else:
            try:
                change = reassignment.start(state, p.replicas, image.brokers)
            except ReassignmentError as exc:
                outcomes[p.partition_index] = (ErrorCode.invalid_replica_assignment, str(exc))
                continue
            if change.adding or change.removing or in_progress:
                changes[p.partition_index] = change
        outcomes[p.partition_index] = (ErrorCode.none, None)
    return outcomes, changes
