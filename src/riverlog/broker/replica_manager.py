"""The partitions this broker hosts, and the append/read paths between handlers and storage.

Invariants:
- A hosted partition has exactly one `PartitionLog`; the map follows the cluster image
  (`sync_with_image`): partitions appear when the image assigns them here and are deleted with their topic.
- Single node: this broker is the only in-sync replica, so the high watermark is the log end offset once an
  append is acknowledged. In strict durability mode it moves only after the group-commit fsync, so a
  consumer never sees a batch that a crash could take back.
- `notify` on the fetch purgatory after every append / high-watermark move wakes long-poll fetches.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import TOPIC_CONFIGS
from riverlog.broker.purgatory import Purgatory
from riverlog.metadata.image import ClusterImage
from riverlog.storage.clock import Clock
from riverlog.storage.config import LogConfig
from riverlog.storage.durability import GroupCommitter
from riverlog.storage.log import AppendResult, PartitionLog
from riverlog.storage.manager import LogManager

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def effective_topic_configs(config: BrokerConfig, overrides: Mapping[str, str]) -> dict[str, str]:
    """Every topic config: the topic's override, else the broker's default (Kafka's synonyms)."""
    values = {name: config.topic_default(name) for name in TOPIC_CONFIGS}
    values.update(overrides)
    return values


def topic_log_config(config: BrokerConfig, overrides: Mapping[str, str]) -> LogConfig:
    return LogConfig.from_topic_configs(effective_topic_configs(config, overrides))


@dataclass(slots=True)
class Partition:
    topic: str
    index: int
    topic_id: uuid.UUID
    log: PartitionLog
    leader_epoch: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class ReplicaManager:
    def __init__(
        self,
        logs: LogManager,
        config: BrokerConfig,
        clock: Clock,
        broker_id: int,
    ) -> None:
        self.logs = logs
        self.config = config
        self.clock = clock
        self.broker_id = broker_id
        self.partitions: dict[TopicPartition, Partition] = {}
        self.purgatory = Purgatory()
        self.committer = GroupCommitter()
        self.strict = config.get_str("riverlog.durability") == "strict"

    def log_config(self, overrides: Mapping[str, str]) -> LogConfig:
        return topic_log_config(self.config, overrides)

    # --- following the cluster image ---

    def sync_with_image(self, image: ClusterImage) -> None:
        wanted: set[TopicPartition] = set()
        for topic in image.topics.values():
            config = self.log_config(topic.configs)
            for state in topic.partitions.values():
                if self.broker_id not in state.replicas:
                    continue
                tp = (topic.name, state.partition)
                wanted.add(tp)
                self._host(tp, topic.topic_id, state.leader, state.leader_epoch, config)
                part = self.partitions[tp]
                part.replicas, part.isr = state.replicas, state.isr
        for tp in set(self.partitions) - wanted:
            self._drop(tp)

    def _host(
        self,
        tp: TopicPartition,
        topic_id: uuid.UUID,
        leader: int,
        leader_epoch: int,
        config: LogConfig,
    ) -> None:
        part = self.partitions.get(tp)
        if part is None or part.topic_id != topic_id:
            if part is not None:
                self._drop(tp)
            plog = self.logs.get_or_create(tp[0], tp[1], config)
            part = Partition(tp[0], tp[1], topic_id, plog, leader_epoch, leader, (), ())
            self.partitions[tp] = part
        elif part.log.config != config:
            part.log.update_config(config)
        part.leader, part.leader_epoch = leader, leader_epoch
        if leader == self.broker_id:
            part.log.assign_epoch(leader_epoch)
            # Single node: the leader is the whole ISR, everything in the log is committed.
            if part.isr in ((), (self.broker_id,)):
                part.log.high_watermark = part.log.log_end_offset

    def _drop(self, tp: TopicPartition) -> None:
        self.partitions.pop(tp, None)
        self.logs.delete(tp[0], tp[1])
        self.purgatory.notify(tp)

    # --- data path ---

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    async def append(self, part: Partition, records: bytes) -> AppendResult:
        """Append as leader; returns once the batch is acknowledged under the durability mode."""
        result = part.log.append(
            records, leader_epoch=part.leader_epoch, now_ms=self.clock.now_ms()
        )
        if self.strict:
            await self.committer.sync(part.log)
        self.advance_high_watermark(part, result.last_offset + 1)
        return result

    def advance_high_watermark(self, part: Partition, offset: int) -> None:
        if offset > part.log.high_watermark:
            part.log.high_watermark = min(offset, part.log.log_end_offset)
            self.purgatory.notify((part.topic, part.index))
