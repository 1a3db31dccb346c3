"""A minimal transactions V2 producer (KIP-890 part 2) speaking the wire protocol, for tests and benches.

None of the clients installed here (librdkafka 2.x, aiokafka, kafka-python) uses transactions V2 yet;
Kafka's Java client 4.0+ does, when ApiVersions finalizes `transaction.version` at 2. This producer
sends what that client sends: InitProducerId v5, transactional Produce v12 without AddPartitionsToTxn
(the partition leader adds the partition), TxnOffsetCommit v5 without AddOffsetsToTxn, and EndTxn v5,
whose answer carries the bumped epoch the producer goes on with (sequences start again at 0).

Each request goes on a fresh blocking connection to the broker that serves it: the coordinator found
with FindCoordinator, or the partition's leader found with Metadata. Not thread-safe.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta

from riverlog.broker.replication.peer import call_blocking
from riverlog.broker.responses import request_schema
from riverlog.protocol.records import build_batch

PRODUCE, METADATA, FIND_COORDINATOR, INIT_PRODUCER_ID, END_TXN, TXN_OFFSET_COMMIT = (
    0,
    3,
    10,
    22,
    26,
    28,
)
Address = tuple[str, int]


class TxnV2Error(Exception):
    """A request the producer cannot go on from (the error code is in the message)."""


def _timeout(ms: int) -> i32Timedelta:
    return i32Timedelta.parse(datetime.timedelta(milliseconds=ms))


def call(address: Address, api_key: int, version: int, name: str, **values: Any) -> Any:
    """Build `name` of the API's request schema at `version`, send it, return the response body."""
    request = getattr(request_schema(api_key, version), name)(**values)
    return call_blocking(address[0], address[1], request, "riverlog-txn-v2", 15.0)


def leader_of(bootstrap: Address, topic: str, partition: int) -> Address:
    """The partition's leader, as Metadata v12 tells."""
    schema = request_schema(METADATA, 12)
    body = call(
        bootstrap,
        METADATA,
        12,
        "MetadataRequest",
        topics=(schema.MetadataRequestTopic(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    brokers = {b.node_id: (b.host, int(b.port)) for b in body.brokers}
    for described in body.topics:
        for p in described.partitions:
            if int(p.partition_index) == partition and int(p.leader_id) in brokers:
                return brokers[int(p.leader_id)]
    raise TxnV2Error(f"no leader for {topic}-{partition}")


def coordinator_of(bootstrap: Address, key: str, key_type: int) -> Address:
    """FindCoordinator v4 for a group (0) or a transactional id (1)."""
    body = call(
        bootstrap,
        FIND_COORDINATOR,
        4,
        "FindCoordinatorRequest",
        key_type=key_type,
        coordinator_keys=(key,),
    )
    found = body.coordinators[0]
    if found.error_code != ErrorCode.none:
        raise TxnV2Error(f"FindCoordinator {key}: {ErrorCode(found.error_code).name}")
    return (found.host, int(found.port))


@dataclass
class TxnV2Producer:
    bootstrap: Address
    transactional_id: str
    timeout_ms: int = 60_000
    producer_id: int = -1
    producer_epoch: int = -1
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)

    def coordinator(self) -> Address:
        return coordinator_of(self.bootstrap, self.transactional_id, 1)

    def init(self) -> ErrorCode:
        body = call(
            self.coordinator(),
            INIT_PRODUCER_ID,
            5,
            "InitProducerIdRequest",
            transactional_id=self.transactional_id,
            transaction_timeout=_timeout(self.timeout_ms),
            producer_id=-1,
            producer_epoch=-1,
        )
        code = ErrorCode(body.error_code)
        if code is ErrorCode.none:
            self._moved_to(int(body.producer_id), int(body.producer_epoch))
        return code

    def batch(self, topic: str, partition: int, values: Sequence[bytes]) -> bytes:
        """The next transactional batch for the partition (its sequence is taken on success)."""
        return build_batch(
            [(None, value, (), 0) for value in values],
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch,
            base_sequence=self.sequences.get((topic, partition), 0),
            transactional=True,
        )

    def send(
        self, topic: str, partition: int, values: Sequence[bytes], version: int = 12
    ) -> ErrorCode:
        """Produce `values` in the transaction (acks=all); v12 adds the partition implicitly."""
        code = self.send_batch(topic, partition, self.batch(topic, partition, values), version)
        if code is ErrorCode.none:
            key = (topic, partition)
            self.sequences[key] = self.sequences.get(key, 0) + len(values)
        return code

    def send_batch(self, topic: str, partition: int, batch: bytes, version: int = 12) -> ErrorCode:
        schema = request_schema(PRODUCE, version)
        body = call(
            leader_of(self.bootstrap, topic, partition),
            PRODUCE,
            version,
            "ProduceRequest",
            transactional_id=self.transactional_id,
            acks=-1,
            timeout=_timeout(10_000),
            topic_data=(
                schema.TopicProduceData(
                    name=topic,
                    partition_data=(schema.PartitionProduceData(index=partition, records=batch),),
                ),
            ),
        )
        return ErrorCode(body.responses[0].partition_responses[0].error_code)

    def commit_offsets(self, group_id: str, offsets: dict[tuple[str, int], int]) -> ErrorCode:
        """TxnOffsetCommit v5 to the group's coordinator, with no AddOffsetsToTxn before it."""
        schema = request_schema(TXN_OFFSET_COMMIT, 5)
        by_topic: dict[str, list[Any]] = {}
        for (topic, partition), offset in offsets.items():
            by_topic.setdefault(topic, []).append(
                schema.TxnOffsetCommitRequestPartition(
                    partition_index=partition,
                    committed_offset=offset,
                    committed_leader_epoch=-1,
                    committed_metadata="",
                )
            )
        body = call(
            coordinator_of(self.bootstrap, group_id, 0),
            TXN_OFFSET_COMMIT,
            5,
            "TxnOffsetCommitRequest",
            transactional_id=self.transactional_id,
            group_id=group_id,
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch,
            generation_id=-1,
            member_id="",
            group_instance_id=None,
            topics=tuple(
                schema.TxnOffsetCommitRequestTopic(name=topic, partitions=tuple(parts))
                for topic, parts in by_topic.items()
            ),
        )
        codes = {ErrorCode(p.error_code) for t in body.topics for p in t.partitions}
        return next(iter(codes - {ErrorCode.none}), ErrorCode.none)

    def end(self, commit: bool, epoch: int | None = None) -> tuple[ErrorCode, int, int]:
        """EndTxn v5 (with the producer's epoch, or `epoch` to replay an older request); on success
        the producer moves to the answered producer id and epoch. Returns (error, id, epoch)."""
        body = call(
            self.coordinator(),
            END_TXN,
            5,
            "EndTxnRequest",
            transactional_id=self.transactional_id,
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch if epoch is None else epoch,
            committed=commit,
        )
        code = ErrorCode(body.error_code)
        if code is ErrorCode.none:
            self._moved_to(int(body.producer_id), int(body.producer_epoch))
        return code, int(body.producer_id), int(body.producer_epoch)

    def _moved_to(self, producer_id: int, epoch: int) -> None:
        if (producer_id, epoch) != (self.producer_id, self.producer_epoch):
            self.sequences.clear()  # a new epoch starts its sequences at 0
        self.producer_id, self.producer_epoch = producer_id, epoch
