"""Produce (key 0): append each partition's record batches and answer per partition.

acks=0 gets no response (Kafka closes nothing and answers nothing); acks=1 is answered once the leader
holds the batch (strict durability: after the group-commit fsync); acks=-1 once the high watermark passes
it, i.e. every in-sync replica has it, with `min.insync.replicas` checked before and after the append
(NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND) and the request's timeout giving
REQUEST_TIMED_OUT. Storage errors map to Kafka's per-partition error codes (with record_errors naming
the refused records where Kafka names them: timestamps out of range, a compacted topic's null keys); a
duplicate batch from an idempotent producer is answered with the offsets it got the first time. A transactional batch
goes through KIP-890's check first (`_txn`): verified in the transaction before v12, added to it
from v12 (transactions V2).
"""

from __future__ import annotations

import asyncio
import datetime
import logging

from kio.schema.errors import ErrorCode

from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.protocol.produce_request import PartitionProduceData, ProduceRequest
from riverlog.protocol.produce_response import (
    BatchIndexAndErrorMessage,
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)
from riverlog.security.acl import AclOperation, ResourceType
from riverlog.storage import errors as storage_errors

API_KEY = 0
MIN_VERSION = 3
MAX_VERSION = 12
REQUEST = ProduceRequest  # decoded by riverlog.protocol.produce_request (the hot path)
IMPLICIT_ADD_SINCE = 12  # transactions V2: the first produce adds the partition to the transaction
log = logging.getLogger(__name__)

_ERRORS: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (storage_errors.RecordTooLargeError, ErrorCode.message_too_large),
    (storage_errors.CorruptRecordError, ErrorCode.corrupt_message),
    (storage_errors.InvalidRecordError, ErrorCode.invalid_record),
    (storage_errors.OutOfOrderSequenceError, ErrorCode.out_of_order_sequence_number),
    (storage_errors.InvalidProducerEpochError, ErrorCode.invalid_producer_epoch),
    (storage_errors.InvalidTimestampError, ErrorCode.invalid_timestamp),
    (storage_errors.KafkaStorageError, ErrorCode.kafka_storage_error),
)


def error_code_for(exc: Exception) -> ErrorCode:
    for cls, code in _ERRORS:
        if isinstance(exc, cls):
            return code
    return ErrorCode.unknown_server_error


async def handle(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | None:
    """`request` comes from the specialised decoder: records are views of the frame, valid until
    this returns (the log copies what it keeps)."""
    acks = request.acks
    topics = []
    timeout_s = request.timeout_ms / 1000
    txn_id = request.transactional_id
    txn_denied = txn_id is not None and not ctx.authorized(
        AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id
    )
    for topic in request.topic_data:
        denied = _denied(ctx, topic.name, txn_denied)
        if denied is not None:  # KafkaApis: WRITE on the transactional id, then on each topic
            parts = [_answer(ctx, p.index, denied) for p in topic.partition_data]
        elif acks == -1:  # replication waits run side by side
            parts = await asyncio.gather(
                *(
                    _produce_partition(ctx, topic.name, p, acks, timeout_s, txn_id)
                    for p in topic.partition_data
                )
            )
        else:
            parts = [
                await _produce_partition(ctx, topic.name, p, acks, timeout_s, txn_id)
                for p in topic.partition_data
            ]
        topics.append(TopicProduceResponse(name=topic.name, partition_responses=parts))
    if acks == 0:
        return None
    # Plain response types: encoded by riverlog.protocol's specialised codec (hot path).
    return ProduceResponse(responses=topics)


def _denied(ctx: RequestContext, topic: str, txn_denied: bool) -> ErrorCode | None:
    if txn_denied:
        return ErrorCode.transactional_id_authorization_failed
    if not ctx.authorized(AclOperation.WRITE, ResourceType.TOPIC, topic):
        return ErrorCode.topic_authorization_failed
    return None


async def _produce_partition(
    ctx: RequestContext,
    topic: str,
    data: PartitionProduceData,
    acks: int,
    timeout_s: float,
    transactional_id: str | None = None,
) -> PartitionProduceResponse:
    if acks not in (-1, 0, 1):
        return _answer(ctx, data.index, ErrorCode.invalid_required_acks)
    replicas = ctx.services.replicas
    part = replicas.check_partition(topic, data.index)
    if isinstance(part, ErrorCode):
        return _answer(ctx, data.index, part)
    if not data.records:
        return _answer(ctx, data.index, ErrorCode.corrupt_message, "no record batch")
    if acks == -1 and not replicas.enough_replicas(part):
        return _answer(ctx, data.index, ErrorCode.not_enough_replicas)
    if transactional_id is not None:  # KIP-890: the partition must be in the transaction
        adds = ctx.version >= IMPLICIT_ADD_SINCE
        header = _txn.unchecked_transactional_batch(
            ctx.services, transactional_id, part, data.records, adds
        )
        if header is not None:
            code = await _txn.check_transactional_produce(
                ctx.services, transactional_id, part, header, adds
            )
            if code is not ErrorCode.none:
                return _answer(ctx, data.index, code)
    try:
        # The batch stays a view of the request frame (no copy): the log writes it out before
        # returning and keeps no reference.
        result = await replicas.append(part, data.records)
    except storage_errors.DuplicateSequenceError as dup:
        result = dup.original
    except storage_errors.StorageError as exc:
        code = error_code_for(exc)
        log.debug("produce to %s-%d failed: %s", topic, data.index, exc)
        answer = _answer(ctx, data.index, code, str(exc), part.log_start_offset)
        answer.record_errors = _record_errors(exc)
        return answer
    ctx.services.metrics.produced(topic, result.records_count, len(data.records))
    if acks == -1:
        code = await replicas.wait_for_replication(part, result.last_offset, timeout_s)
        if code != ErrorCode.none:
            return _answer(ctx, data.index, code, None, part.log_start_offset)
    append_time = None
    if result.log_append_time_ms >= 0:
        append_time = datetime.datetime.fromtimestamp(
            result.log_append_time_ms / 1000, tz=datetime.UTC
        )
    return PartitionProduceResponse(
        index=data.index,
        error_code=ErrorCode.none,
        base_offset=result.first_offset,
        log_append_time=append_time,
        log_start_offset=part.log_start_offset,
        record_errors=(),
        error_message=None,
    )


def _record_errors(exc: Exception) -> tuple[BatchIndexAndErrorMessage, ...]:
    if not isinstance(
        exc, storage_errors.InvalidRecordError | storage_errors.InvalidTimestampError
    ):
        return ()
    return tuple(BatchIndexAndErrorMessage(index, message) for index, message in exc.record_errors)


def _answer(
    ctx: RequestContext, index: int, code: ErrorCode, message: str | None = None, start: int = -1
) -> PartitionProduceResponse:
    return PartitionProduceResponse(
        index=index,
        error_code=code,
        base_offset=-1,
        log_append_time=None,
        log_start_offset=start,
        record_errors=(),
        error_message=message,
    )
