"""Checks every partition-addressed request shares: hosted here, led here, epoch current."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.context import RequestContext
from riverlog.broker.replica_manager import Partition


def leader_partition(
    ctx: RequestContext, topic: str, index: int, current_leader_epoch: int = -1
) -> Partition | ErrorCode:
    """The partition when this broker leads it at the client's epoch, else Kafka's error code."""
    part = ctx.services.replicas.get(topic, index)
    if part is None:
        return ErrorCode.unknown_topic_or_partition
    if part.leader != ctx.services.broker_id:
        return ErrorCode.not_leader_or_follower
    if current_leader_epoch >= 0:
        if current_leader_epoch < part.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        if current_leader_epoch > part.leader_epoch:
            return ErrorCode.unknown_leader_epoch
    return part
