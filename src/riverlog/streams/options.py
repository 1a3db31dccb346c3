"""DSL option objects (Kafka Streams' `Consumed`, `Produced`, `Grouped`, `Materialized`, `Branched`,
`Printed`, `Repartitioned`, `Named`) and store suppliers (`Stores`).

As in Kafka, the `with_*` methods set a field and return the same object, so calls chain.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TextIO

from riverlog.streams.serdes import Serde
from riverlog.streams.windows import Duration, to_ms

Partitioner = Callable[[str, Any, Any, int], int | None]  # (topic, key, value, num_partitions)
TimestampExtractor = Callable[[Any, int], int]  # (ConsumedRecord, partition_time) -> timestamp


class Named:
    def __init__(self, name: str | None) -> None:
        self.name = name

    @classmethod
    def as_(cls, name: str) -> Named:
        return cls(name)


class _Options:
    """What the serde-carrying option objects share: a name, key and value serdes, and Kafka's
    static shortcuts (`as_(name)`, `with_(key_serde, value_serde)`), each method chaining."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.key_serde: Serde[Any] | None = None
        self.value_serde: Serde[Any] | None = None

    @classmethod
    def as_(cls, name: str) -> Self:
        return cls().with_name(name)

    @classmethod
    def with_(
        cls, key_serde: Serde[Any] | None = None, value_serde: Serde[Any] | None = None
    ) -> Self:
        options = cls()
        options.key_serde, options.value_serde = key_serde, value_serde
        return options

    @classmethod
    def key_serde_(cls, serde: Serde[Any]) -> Self:
        return cls().with_key_serde(serde)

    @classmethod
    def value_serde_(cls, serde: Serde[Any]) -> Self:
        return cls().with_value_serde(serde)

    def with_name(self, name: str) -> Self:
        self.name = name
        return self

    def with_key_serde(self, serde: Serde[Any]) -> Self:
        self.key_serde = serde
        return self

    def with_value_serde(self, serde: Serde[Any]) -> Self:
        self.value_serde = serde
        return self


class Consumed(_Options):
    def __init__(self) -> None:
        super().__init__()
        self.timestamp_extractor: TimestampExtractor | None = None
        self.offset_reset: str | None = None

    @classmethod
    def with_(  # type: ignore[override]  # Kafka's Consumed.with takes the extractor and reset too
        cls,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        timestamp_extractor: TimestampExtractor | None = None,
        offset_reset: str | None = None,
    ) -> Consumed:
        c = cls()
        c.key_serde, c.value_serde = key_serde, value_serde
        c.timestamp_extractor, c.offset_reset = timestamp_extractor, offset_reset
        return c

    def with_timestamp_extractor(self, extractor: TimestampExtractor) -> Consumed:
        self.timestamp_extractor = extractor
        return self

    def with_offset_reset_policy(self, policy: str) -> Consumed:
        self.offset_reset = policy
        return self


class Produced(_Options):
    def __init__(self) -> None:
        super().__init__()
        self.partitioner: Partitioner | None = None

    @classmethod
    def with_(  # type: ignore[override]  # Kafka's Produced.with takes the partitioner too
        cls,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        partitioner: Partitioner | None = None,
    ) -> Produced:
        p = cls()
        p.key_serde, p.value_serde, p.partitioner = key_serde, value_serde, partitioner
        return p

    def with_stream_partitioner(self, partitioner: Partitioner) -> Produced:
        self.partitioner = partitioner
        return self


class Grouped(_Options):
    pass


@dataclass
class StoreSupplier:
    """Which store to build: `kind` is `kv`, `window` or `session`; `persistent` = RocksDB."""

    name: str
    kind: str
    persistent: bool
    retention_ms: int | None = None
    window_size_ms: int | None = None
    retain_duplicates: bool = False


class StoreBuilder:
    """A store for the Processor API (`builder.add_state_store`, `Topology.add_state_store`):
    a supplier plus serdes, caching (off by default, as Kafka's builders) and logging (on)."""

    def __init__(
        self, supplier: StoreSupplier, key_serde: Serde[Any] | None, value_serde: Serde[Any] | None
    ) -> None:
        self.supplier = supplier
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.caching = False
        self.logging = True
        self.log_config: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.supplier.name

    def with_caching_enabled(self) -> StoreBuilder:
        self.caching = True
        return self

    def with_caching_disabled(self) -> StoreBuilder:
        self.caching = False
        return self

    def with_logging_enabled(self, config: dict[str, str] | None = None) -> StoreBuilder:
        self.logging, self.log_config = True, dict(config or {})
        return self

    def with_logging_disabled(self) -> StoreBuilder:
        self.logging = False
        return self


class Stores:
    """Store suppliers for `Materialized.as_(supplier)` and store builders for the Processor API
    (Kafka's `Stores`)."""

    @staticmethod
    def key_value_store_builder(
        supplier: StoreSupplier, key_serde: Serde[Any] | None, value_serde: Serde[Any] | None
    ) -> StoreBuilder:
        if supplier.kind != "kv":
            raise ValueError(f"{supplier.name} is not a key-value store supplier")
        return StoreBuilder(supplier, key_serde, value_serde)

    timestamped_key_value_store_builder = key_value_store_builder

    @staticmethod
    def window_store_builder(
        supplier: StoreSupplier, key_serde: Serde[Any] | None, value_serde: Serde[Any] | None
    ) -> StoreBuilder:
        if supplier.kind != "window":
            raise ValueError(f"{supplier.name} is not a window store supplier")
        return StoreBuilder(supplier, key_serde, value_serde)

    timestamped_window_store_builder = window_store_builder

    @staticmethod
    def session_store_builder(
        supplier: StoreSupplier, key_serde: Serde[Any] | None, value_serde: Serde[Any] | None
    ) -> StoreBuilder:
        if supplier.kind != "session":
            raise ValueError(f"{supplier.name} is not a session store supplier")
        return StoreBuilder(supplier, key_serde, value_serde)

    @staticmethod
    def persistent_key_value_store(name: str) -> StoreSupplier:
        return StoreSupplier(name, "kv", True)

    persistent_timestamped_key_value_store = persistent_key_value_store

    @staticmethod
    def in_memory_key_value_store(name: str) -> StoreSupplier:
        return StoreSupplier(name, "kv", False)

    @staticmethod
    def persistent_window_store(
        name: str, retention: Duration, window_size: Duration, retain_duplicates: bool = False
    ) -> StoreSupplier:
        return StoreSupplier(
            name, "window", True, to_ms(retention), to_ms(window_size), retain_duplicates
        )

    persistent_timestamped_window_store = persistent_window_store

    @staticmethod
    def in_memory_window_store(
        name: str, retention: Duration, window_size: Duration, retain_duplicates: bool = False
    ) -> StoreSupplier:
        return StoreSupplier(
            name, "window", False, to_ms(retention), to_ms(window_size), retain_duplicates
        )

    @staticmethod
    def persistent_session_store(name: str, retention: Duration) -> StoreSupplier:
        return StoreSupplier(name, "session", True, to_ms(retention))

    @staticmethod
    def in_memory_session_store(name: str, retention: Duration) -> StoreSupplier:
        return StoreSupplier(name, "session", False, to_ms(retention))


class Materialized:
    """How a table is stored: name, serdes, store type, logging, caching, retention."""

    ROCKS_DB = "rocksDB"
    IN_MEMORY = "in_memory"

    def __init__(self) -> None:
        self.store_name: str | None = None
        self.supplier: StoreSupplier | None = None
        self.key_serde: Serde[Any] | None = None
        self.value_serde: Serde[Any] | None = None
        self.store_type: str | None = None
        self.logging_enabled = True
        self.topic_config: dict[str, str] = {}
        self.caching_enabled = True
        self.retention_ms: int | None = None

    @classmethod
    def as_(cls, name_or_supplier: str | StoreSupplier) -> Materialized:
        m = cls()
        if isinstance(name_or_supplier, StoreSupplier):
            m.supplier = name_or_supplier
            m.store_name = name_or_supplier.name
            m.store_type = cls.ROCKS_DB if name_or_supplier.persistent else cls.IN_MEMORY
        else:
            _check_name(name_or_supplier)
            m.store_name = name_or_supplier
        return m

    @classmethod
    def with_(
        cls, key_serde: Serde[Any] | None = None, value_serde: Serde[Any] | None = None
    ) -> Materialized:
        m = cls()
        m.key_serde, m.value_serde = key_serde, value_serde
        return m

    def with_key_serde(self, serde: Serde[Any]) -> Materialized:
        self.key_serde = serde
        return self

    def with_value_serde(self, serde: Serde[Any]) -> Materialized:
        self.value_serde = serde
        return self

    def with_store_type(self, store_type: str) -> Materialized:
        if store_type not in (self.ROCKS_DB, self.IN_MEMORY):
            raise ValueError(f"store type must be {self.ROCKS_DB!r} or {self.IN_MEMORY!r}")
        self.store_type = store_type
        return self

    def with_logging_enabled(self, config: dict[str, str] | None = None) -> Materialized:
        self.logging_enabled = True
        self.topic_config = dict(config or {})
        return self

    def with_logging_disabled(self) -> Materialized:
        self.logging_enabled = False
        return self

    def with_caching_enabled(self) -> Materialized:
        self.caching_enabled = True
        return self

    def with_caching_disabled(self) -> Materialized:
        self.caching_enabled = False
        return self

    def with_retention(self, retention: Duration) -> Materialized:
        self.retention_ms = to_ms(retention, "retention")
        return self


def _check_name(name: str) -> None:
    """Kafka's `Named.validate`: legal characters for store, processor and topic names."""
    if not name or len(name) > 249:
        raise ValueError(f"Name {name!r} is illegal, it must be 1 to 249 characters long")
    for ch in name:
        if not (ch.isascii() and (ch.isalnum() or ch in "._-")):
            raise ValueError(
                f"Name {name!r} is illegal, it contains a character other than "
                "ASCII alphanumerics, '.', '_' and '-'"
            )


class Branched:
    """A branch of `split()`: a name and optionally a function or consumer of the branch stream."""

    def __init__(
        self,
        name: str | None = None,
        function: Callable[[Any], Any] | None = None,
        consumer: Callable[[Any], None] | None = None,
    ) -> None:
        self.name = name
        self.function = function
        self.consumer = consumer

    @classmethod
    def as_(cls, name: str) -> Branched:
        return cls(name)

    @classmethod
    def with_function(cls, function: Callable[[Any], Any], name: str | None = None) -> Branched:
        return cls(name, function=function)

    @classmethod
    def with_consumer(cls, consumer: Callable[[Any], None], name: str | None = None) -> Branched:
        return cls(name, consumer=consumer)


class Printed:
    """Where `KStream.print` writes: stdout or a file, with a label and an optional mapper."""

    def __init__(self, out: TextIO | None = None, path: str | None = None) -> None:
        self.out = out
        self.path = path
        self.label: str | None = None
        self.mapper: Callable[[Any, Any], str] | None = None
        self.name: str | None = None

    @classmethod
    def to_sysout(cls) -> Printed:
        return cls(out=sys.stdout)

    @classmethod
    def to_file(cls, path: str) -> Printed:
        return cls(path=path)

    def with_label(self, label: str) -> Printed:
        self.label = label
        return self

    def with_key_value_mapper(self, mapper: Callable[[Any, Any], str]) -> Printed:
        self.mapper = mapper
        return self

    def with_name(self, name: str) -> Printed:
        self.name = name
        return self


class Repartitioned(_Options):
    def __init__(self) -> None:
        super().__init__()
        self.num_partitions: int | None = None
        self.partitioner: Partitioner | None = None

    @classmethod
    def number_of_partitions(cls, n: int) -> Repartitioned:
        return cls().with_number_of_partitions(n)

    def with_number_of_partitions(self, n: int) -> Repartitioned:
        if n <= 0:
            raise ValueError("number of partitions must be positive")
        self.num_partitions = n
        return self

    def with_stream_partitioner(self, partitioner: Partitioner) -> Repartitioned:
        self.partitioner = partitioner
        return self
