"""The connector API, after Kafka's `org.apache.kafka.connect.{connector,source,sink}` in Python.

A plugin author writes a `SourceConnector` or `SinkConnector` (its `config_def` declares its keys; it
splits work into task configs) and a `SourceTask` / `SinkTask` that moves records. The runtime calls:

- connector: `initialize(context)` → `start(props)` → `task_configs(max_tasks)` … → `stop()`;
- source task: `initialize(context)` → `start(props)` → `poll()` repeatedly → `commit_record(record,
  metadata)` per record acknowledged by Kafka → `commit()` after offsets are flushed → `stop()`;
- sink task: `initialize(context)` → `start(props)` → `open(partitions)` → `put(records)` repeatedly →
  `pre_commit(offsets)` (default: `flush(offsets)` and return them) → `close(partitions)` → `stop()`.

Source partitions and offsets are JSON-able maps (str keys; str/int/float/bool values), stored as Kafka
Connect stores them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, overload

from riverlog.common.configdef import ConfigDef
from riverlog.connect.data import Schema

JsonMap = dict[str, Any]


@dataclass(frozen=True)
class Header:
    key: str
    schema: Schema | None
    value: Any


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(slots=True)
class ConnectRecord:
    """What every record has (Kafka's `ConnectRecord`); SMTs return new ones with `replace`.

    Records are treated as immutable (never assigned to after creation) but are not frozen dataclasses:
    a frozen one costs an `object.__setattr__` per field on the per-record hot path."""

    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: tuple[Header, ...] = ()

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    def with_header(self, key: str, schema: Schema | None, value: Any) -> Any:
        return dataclasses.replace(self, headers=(*self.headers, Header(key, schema, value)))


@dataclass(slots=True)
class SourceRecord(ConnectRecord):
    source_partition: JsonMap | None = None
    source_offset: JsonMap | None = None


class SourceBatch(Sequence[SourceRecord]):
    """A poll's records held by column: they share topic, schemas, timestamp and source partition,
    and differ in key, value and source offset. A task may return one from `poll` instead of a list;
    it reads as a sequence of `SourceRecord`s (built on access), and lets the runtime send records
    without building them when no transformation or `commit_record` needs them."""

    __slots__ = (
        "kafka_partition",
        "key_schema",
        "keys",
        "source_offsets",
        "source_partition",
        "timestamp",
        "topic",
        "value_schema",
        "values",
    )

    def __init__(
        self,
        topic: str,
        value_schema: Schema | None,
        values: Sequence[Any],
        source_partition: JsonMap | None,
        source_offsets: Sequence[JsonMap | None],
        *,
        key_schema: Schema | None = None,
        keys: Sequence[Any] | None = None,
        timestamp: int | None = None,
        kafka_partition: int | None = None,
    ) -> None:
        if len(source_offsets) != len(values) or (keys is not None and len(keys) != len(values)):
            raise ValueError("SourceBatch columns differ in length")
        self.topic, self.value_schema, self.values = topic, value_schema, values
        self.source_partition, self.source_offsets = source_partition, source_offsets
        self.key_schema, self.keys = key_schema, keys
        self.timestamp, self.kafka_partition = timestamp, kafka_partition

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> SourceRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[SourceRecord]: ...

    def __getitem__(self, index: int | slice) -> SourceRecord | list[SourceRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return SourceRecord(
            self.topic,
            self.kafka_partition,
            self.key_schema,
            None if self.keys is None else self.keys[index],
            self.value_schema,
            self.values[index],
            self.timestamp,
            (),
            self.source_partition,
            self.source_offsets[index],
        )


@dataclass(slots=True)
class SinkRecord(ConnectRecord):
    kafka_offset: int = -1
    timestamp_type: str = "CreateTime"
    original_topic: str | None = None
    original_kafka_partition: int | None = None
    original_kafka_offset: int | None = None


@dataclass(frozen=True)
class RecordMetadata:
    topic: str
    partition: int
    offset: int
    timestamp: int | None = None


# ---------------------------------------------------------------- contexts the runtime provides


class ConnectorContext:
    """Lets a connector ask for its tasks to be reconfigured or report a fatal error."""

    def request_task_reconfiguration(self) -> None:
        raise NotImplementedError

    def raise_error(self, error: BaseException) -> None:
        raise NotImplementedError


class OffsetStorageReader:
    """Reads committed source offsets: `offset(partition)` / `offsets([partition, …])`."""

    def offset(self, partition: Mapping[str, Any]) -> JsonMap | None:
        return self.offsets([partition]).get(_freeze(partition))

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, JsonMap | None]:
        raise NotImplementedError


def _freeze(partition: Mapping[str, Any]) -> Any:
    return tuple(sorted(partition.items()))


def partition_key(partition: Mapping[str, Any]) -> Any:
    """The hashable key `OffsetStorageReader.offsets` answers by."""
    return _freeze(partition)


class TransactionContext:
    """Kafka's `TransactionContext` (KIP-618): with `exactly.once.source.support=enabled` and
    `transaction.boundary=connector`, a source task says where its transactions end. `record`: commit
    (or abort) the transaction once that record has been sent; no record: once the records of the
    current (or next) poll have been sent. Records of an aborted transaction are dropped, and their
    offsets committed, so they are not polled again."""

    def commit_transaction(self, record: SourceRecord | None = None) -> None:
        raise NotImplementedError

    def abort_transaction(self, record: SourceRecord | None = None) -> None:
        raise NotImplementedError


@dataclass
class SourceTaskContext:
    configs: dict[str, str]
    offset_storage_reader: OffsetStorageReader
    # set only for exactly-once tasks with transaction.boundary=connector (Kafka: null otherwise)
    transaction_context: TransactionContext | None = None


@dataclass
class SinkTaskContext:
    configs: dict[str, str]
    assignment: set[TopicPartition] = field(default_factory=set)
    offsets_to_reset: dict[TopicPartition, int] = field(default_factory=dict)
    commit_requested: bool = False
    paused: set[TopicPartition] = field(default_factory=set)
    errant_record_reporter: Any = None

    def offset(self, tp: TopicPartition, offset: int) -> None:
        """Rewind or skip: the consumer seeks `tp` to `offset` before the next `put`."""
        self.offsets_to_reset[tp] = offset

    def request_commit(self) -> None:
        self.commit_requested = True

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)


# ---------------------------------------------------------------- connectors and tasks


class Task:
    def version(self) -> str:
        return "0.1.0"

    def start(self, props: dict[str, str]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Called from another thread than `poll`/`put`: make them return promptly."""


class SourceTask(Task):
    context: SourceTaskContext

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    def poll(self) -> Sequence[SourceRecord] | None:
        """Records to send (a list, or a `SourceBatch`), or None/[] when there are none yet (may
        block briefly)."""
        raise NotImplementedError

    def commit(self) -> None:
        """Offsets up to the last poll are flushed."""

    def commit_record(self, record: SourceRecord, metadata: RecordMetadata | None) -> None:
        """`record` was written to Kafka (metadata None when a transform dropped it)."""


class SinkTask(Task):
    context: SinkTaskContext

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    def put(self, records: list[SinkRecord]) -> None:
        raise NotImplementedError

    def flush(self, current_offsets: dict[TopicPartition, int]) -> None:
        """Make every record `put` so far durable."""

    def pre_commit(self, current_offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The offsets safe to commit (default: flush, then all of them)."""
        self.flush(current_offsets)
        return current_offsets

    def open(self, partitions: set[TopicPartition]) -> None:
        """Partitions newly assigned."""

    def close(self, partitions: set[TopicPartition]) -> None:
        """Partitions revoked: flush what belongs to them."""


class Connector:
    """A connector: declares its config, starts, splits work into task configs, stops."""

    config_def: ClassVar[ConfigDef] = ConfigDef()
    context: ConnectorContext

    def version(self) -> str:
        return "0.1.0"

    def initialize(self, context: ConnectorContext) -> None:
        self.context = context

    def start(self, props: dict[str, str]) -> None:
        raise NotImplementedError

    def task_class(self) -> type[Task]:
        raise NotImplementedError

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what `start` took."""

    def validate(self, props: Mapping[str, str]) -> dict[str, list[str]]:
        """Per declared key, its errors (Kafka's `Connector.validate`); override for cross-key checks."""
        return self.config_def.validate(props)


class SourceConnector(Connector):
    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        """Whether this connector can give exactly-once (None: unknown, as Kafka's default)."""
        return None

    def can_define_transaction_boundaries(self, props: Mapping[str, str]) -> bool:
        """Kafka's `canDefineTransactionBoundaries`: whether its tasks use the transaction context
        (`transaction.boundary=connector` is refused otherwise). Default: no, as Kafka's."""
        return False

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """Asked before offsets are altered over REST; True if the connector accepts them."""
        return False


class SinkConnector(Connector):
    TOPICS_CONFIG = "topics"

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return False
