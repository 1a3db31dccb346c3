"""DescribeLogDirs (key 35): the broker's log directory and the size of each partition in it.

riverlog has one log directory, the data directory (its absolute path is the name). Kafka's rules
(ReplicaManager.describeLogDirs): `topics` null means every partition; otherwise only the partitions
named, though every topic hosted in the directory is listed (with an empty partition list when none of
its partitions was asked for). Per partition: size in bytes, offset lag max(high watermark - log end
offset, 0) (0 for a leader), never a future replica (no inter-directory moves). v4 adds the file
system's total and usable bytes. A directory that cannot be read answers KAFKA_STORAGE_ERROR.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.protocol.messages.describe_log_dirs import (
    DescribableLogDirTopic,
    DescribeLogDirsPartition,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
)
from riverlog.security.acl import AclOperation

if TYPE_CHECKING:
    from riverlog.broker.replication.fetch_manager import LogDirEntry

API_KEY = 35
MIN_VERSION = 1
MAX_VERSION = 4
REQUEST = DescribeLogDirsRequest


async def handle(ctx: RequestContext, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    log_dir = os.path.abspath(ctx.services.config.data_dir)
    if not ctx.cluster_authorized(AclOperation.DESCRIBE):
        return DescribeLogDirsResponse(
            throttle_time=ZERO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            results=(),
        )
    try:
        usage = shutil.disk_usage(log_dir)
    except OSError:
        result = _dir_result(ctx, log_dir, ErrorCode.kafka_storage_error, (), -1, -1)
    else:
        topics = _topics(ctx, _wanted(request.topics))
        result = _dir_result(ctx, log_dir, ErrorCode.none, topics, usage.total, usage.free)
    return DescribeLogDirsResponse(
        throttle_time=ZERO_THROTTLE,
        error_code=ErrorCode.none,
        results=(result,),
    )


def _wanted(topics: tuple[DescribableLogDirTopic, ...] | None) -> set[tuple[str, int]] | None:
    if topics is None:
        return None
    return {(t.topic, p) for t in topics for p in t.partitions}


def _topics(
    ctx: RequestContext, wanted: set[tuple[str, int]] | None
) -> tuple[DescribeLogDirsTopic, ...]:
    by_topic: dict[str, list[LogDirEntry]] = {}
    for entry in ctx.services.fetches.log_dir_entries():
        topic, index = entry.partition.key
        entries = by_topic.setdefault(topic, [])
        if wanted is None or (topic, index) in wanted:
            entries.append(entry)
    return tuple(
        DescribeLogDirsTopic(
            name=topic,
            partitions=tuple(
                _partition(ctx, e) for e in sorted(entries, key=lambda e: e.partition.index)
            ),
        )
        for topic, entries in sorted(by_topic.items())
    )


def _partition(ctx: RequestContext, entry: LogDirEntry) -> DescribeLogDirsPartition:
    return DescribeLogDirsPartition(
        partition_index=entry.partition.index,
        partition_size=entry.size_in_bytes,
        offset_lag=entry.offset_lag,
        is_future_key=False,
    )


def _dir_result(
    ctx: RequestContext,
    log_dir: str,
    code: ErrorCode,
    topics: tuple[DescribeLogDirsTopic, ...],
    total: int,
    usable: int,
) -> DescribeLogDirsResult:
    return DescribeLogDirsResult(
        error_code=code,
        log_dir=log_dir,
        topics=topics,
        total_bytes=total,
        usable_bytes=usable,
    )
