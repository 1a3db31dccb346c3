"""TxnOffsetCommit (key 28): offsets a transactional producer commits for a consumer group.

Served by the group's coordinator, as Kafka does: the offsets are written to `__consumer_offsets` as a
transactional batch with the producer's id and epoch, held as pending by the group coordinator, and
become committed when the COMMIT marker lands on that partition (dropped on ABORT); see
`riverlog.coordinator.group.offsets`. They survive a restart like any record of the partition.
When this broker also coordinates the transactional id, the producer must be its current one
(INVALID_PRODUCER_ID_MAPPING / PRODUCER_FENCED); the partition's producer state fences older epochs in
any case. v3+ member, generation and instance id are checked when given (Kafka's rules for
transactional commits). PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v3 (KIP-588).
v4 only allows TRANSACTION_ABORTABLE (never answered here). v5 is transactions V2: the client sent no
AddOffsetsToTxn, so the group's partition is added to the transaction here first.
Authorization as KafkaApis: WRITE on the transactional id, READ on the group (else every partition
answers that error), then READ per topic (else TOPIC_AUTHORIZATION_FAILED for its partitions).
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import OFFSETS_TOPIC
from riverlog.broker.coordinators.runtime import CoordinatorError, ProducerIdAndEpoch
from riverlog.broker.handlers import _txn
from riverlog.broker.network.context import RequestContext
from riverlog.broker.responses import ZERO_THROTTLE
from riverlog.coordinator.group.messages import (
    OffsetCommitRequest,
    PartitionCommit,
)
from riverlog.protocol.messages.txn_offset_commit import (
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
)
from riverlog.security.acl import AclOperation, ResourceType

API_KEY = 28
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = TxnOffsetCommitRequest
FENCED_SINCE = 3
IMPLICIT_ADD_SINCE = 5  # transactions V2: no AddOffsetsToTxn, the group's broker adds the partition


_PRINCIPAL_DENIED = (
    ErrorCode.transactional_id_authorization_failed,
    ErrorCode.group_authorization_failed,
)


async def handle(ctx: RequestContext, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    wanted = [(t.name, p) for t in request.topics for p in t.partitions]
    code = _check_producer(ctx, request)
    if code in _PRINCIPAL_DENIED:
        return _response(ctx, {(topic, p.partition_index): code for topic, p in wanted})
    # KafkaApis: a topic without READ answers TOPIC_AUTHORIZATION_FAILED whatever the producer's state
    answers: dict[tuple[str, int], ErrorCode] = {
        (topic, p.partition_index): ErrorCode.topic_authorization_failed
        for topic, p in wanted
        if not ctx.authorized(AclOperation.READ, ResourceType.TOPIC, topic)
    }
    wanted = [(topic, p) for topic, p in wanted if (topic, p.partition_index) not in answers]
    if code is ErrorCode.none and ctx.version >= IMPLICIT_ADD_SINCE and wanted:
        code = await _add_offsets_partition(ctx, request)
    if code is not ErrorCode.none:
        answers.update({(topic, p.partition_index): code for topic, p in wanted})
        return _response(ctx, answers)
    image = ctx.services.image
    known: dict[str, list[PartitionCommit]] = {}
    for topic, p in wanted:
        described = image.topic(topic)
        if described is None or p.partition_index not in described.partitions:
            answers[(topic, p.partition_index)] = ErrorCode.unknown_topic_or_partition
            continue
        epoch = int(p.committed_leader_epoch)
        commit = PartitionCommit(
            int(p.partition_index), int(p.committed_offset), epoch, p.committed_metadata
        )
        known.setdefault(topic, []).append(commit)
    if known:
        answers.update(await _commit(ctx, request, known))
    return _response(ctx, answers)


async def _commit(
    ctx: RequestContext, request: TxnOffsetCommitRequest, known: dict[str, list[PartitionCommit]]
) -> dict[tuple[str, int], ErrorCode]:
    req = OffsetCommitRequest(
        group_id=request.group_id,
        topics=tuple((topic, tuple(commits)) for topic, commits in known.items()),
        generation_id=int(request.generation_id),
        member_id=request.member_id,
        group_instance_id=request.group_instance_id,
        api_version=ctx.version,
    )
    producer = ProducerIdAndEpoch(int(request.producer_id), int(request.producer_epoch))
    try:
        result = await ctx.services.groups.execute(
            req.group_id,
            lambda shard, _ticket, now: shard.txn_commit_offsets(req, now),
            producer=producer,
        )
    except CoordinatorError as exc:
        code = _txn.for_version(_fenced(exc.code), ctx.version, FENCED_SINCE)
        return {(t, c.partition): code for t, commits in known.items() for c in commits}
    return {
        (topic, partition): code for topic, errors in result.topics for partition, code in errors
    }


async def _add_offsets_partition(ctx: RequestContext, request: TxnOffsetCommitRequest) -> ErrorCode:
    """Transactions V2: put the group's `__consumer_offsets` partition in the transaction, as
    AddOffsetsToTxn does for older clients (Kafka's implicit add, KIP-890 part 2)."""
    groups = ctx.services.groups
    tp = (OFFSETS_TOPIC, groups.partition_of(request.group_id))
    return await ctx.services.txn_verifier.check(
        request.transactional_id,
        int(request.producer_id),
        int(request.producer_epoch),
        tp,
        add=True,
    )


def _fenced(code: ErrorCode) -> ErrorCode:
    """The partition refused an older epoch: the producer was fenced."""
    return ErrorCode.producer_fenced if code is ErrorCode.invalid_producer_epoch else code


def _check_producer(ctx: RequestContext, request: TxnOffsetCommitRequest) -> ErrorCode:
    """NOT_COORDINATOR unless the group is here; the producer must be the id's current one."""
    if not ctx.authorized(
        AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id
    ):
        return ErrorCode.transactional_id_authorization_failed
    if not ctx.authorized(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return ErrorCode.group_authorization_failed
    try:
        ctx.services.groups.shard_for(request.group_id)
    except CoordinatorError as exc:
        return exc.code
    try:
        _, shard = _txn.runtime(ctx).shard_for(request.transactional_id)
    except CoordinatorError:
        return ErrorCode.none  # coordinated elsewhere: the partition's producer state fences
    code = shard.check_producer(
        request.transactional_id, int(request.producer_id), int(request.producer_epoch)
    )
    return _txn.for_version(code, ctx.version, FENCED_SINCE)


def _response(
    ctx: RequestContext, answers: dict[tuple[str, int], ErrorCode]
) -> TxnOffsetCommitResponse:
    by_topic: dict[str, list[TxnOffsetCommitResponsePartition]] = {}
    for (topic, partition), code in answers.items():
        by_topic.setdefault(topic, []).append(
            TxnOffsetCommitResponsePartition(partition_index=partition, error_code=code)
        )
    topics = tuple(
        TxnOffsetCommitResponseTopic(name=name, partitions=tuple(parts))
        for name, parts in by_topic.items()
    )
    return TxnOffsetCommitResponse(throttle_time=ZERO_THROTTLE, topics=topics)
