"""Interactive queries on one instance (Kafka Streams' `StoreQueryParameters`,
`QueryableStoreTypes` and the composite read-only stores `KafkaStreams.store` returns).

Invariants: a query reads the stores of this instance's active tasks only, across every thread;
a store whose task is restoring, or any store while the instance is not RUNNING, raises
`InvalidStateStoreException` (retriable) unless the caller asked for stale stores; reads run on the
caller's thread while stream threads write, so each read copies its results out and retries if the
store changed under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from riverlog.streams.errors import InvalidStateStoreException
from riverlog.streams.records import KeyValue, Windowed
from riverlog.streams.serdes import MAX_LONG
from riverlog.streams.state.stores import to_epoch_ms

T = TypeVar("T")


@dataclass(frozen=True)
class QueryableStoreType:
    kind: str  # kv | window | session
    timestamped: bool = False


class QueryableStoreTypes:
    @staticmethod
    def key_value_store() -> QueryableStoreType:
        return QueryableStoreType("kv")

    @staticmethod
    def timestamped_key_value_store() -> QueryableStoreType:
        return QueryableStoreType("kv", True)

    @staticmethod
    def window_store() -> QueryableStoreType:
        return QueryableStoreType("window")

    @staticmethod
    def timestamped_window_store() -> QueryableStoreType:
        return QueryableStoreType("window", True)

    @staticmethod
    def session_store() -> QueryableStoreType:
        return QueryableStoreType("session")


@dataclass(frozen=True)
class StoreQueryParameters:
    store_name: str
    query_type: QueryableStoreType
    partition: int | None = None
    stale_stores: bool = False

    @classmethod
    def from_name_and_type(
        cls, store_name: str, query_type: QueryableStoreType
    ) -> StoreQueryParameters:
        return cls(store_name, query_type)

    def with_partition(self, partition: int) -> StoreQueryParameters:
        return replace(self, partition=partition)

    def enable_stale_stores(self) -> StoreQueryParameters:
        return replace(self, stale_stores=True)


def _stable(read: Callable[[], T]) -> T:
    """Run a read that may race a stream thread's writes; retry when a container changed."""
    for _ in range(50):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration" and the like
            continue
    return read()


class _Composite:
    def __init__(self, name: str, stores: Callable[[], list[Any]]) -> None:
        self.name = name
        self._stores = stores

    def _all(self, fn: Callable[[Any], list[T]]) -> list[T]:
        out: list[T] = []
        for s in self._stores():
            out.extend(_stable(lambda s=s: fn(s)))  # type: ignore[misc]
        return out


class CompositeReadOnlyKeyValueStore(_Composite):
    def __init__(self, name: str, stores: Callable[[], list[Any]], timestamped: bool) -> None:
        super().__init__(name, stores)
        self.timestamped = timestamped

    def get(self, key: Any) -> Any:
        for s in self._stores():
            v = _stable(
                lambda s=s: s.get_with_timestamp(key) if self.timestamped else s.get(key)  # type: ignore[misc]
            )
            if v is not None:
                return v
        return None

    def _items(
        self, fn: Callable[[Any], Iterator[KeyValue[Any, Any]]]
    ) -> Iterator[KeyValue[Any, Any]]:
        items = self._all(lambda s: list(fn(s)))
        return iter(items)

    def range(self, key_from: Any = None, key_to: Any = None) -> Iterator[KeyValue[Any, Any]]:
        return self._items(lambda s: s.range(key_from, key_to))

    def reverse_range(
        self, key_from: Any = None, key_to: Any = None
    ) -> Iterator[KeyValue[Any, Any]]:
        return self._items(lambda s: s.reverse_range(key_from, key_to))

    def all(self) -> Iterator[KeyValue[Any, Any]]:
        return self._items(lambda s: s.all())

    def reverse_all(self) -> Iterator[KeyValue[Any, Any]]:
        return self._items(lambda s: s.reverse_all())

    def prefix_scan(self, prefix: Any, prefix_serde: Any) -> Iterator[KeyValue[Any, Any]]:
        return self._items(lambda s: s.prefix_scan(prefix, prefix_serde))

    def approximate_num_entries(self) -> int:
        return sum(_stable(s.approximate_num_entries) for s in self._stores())


class CompositeReadOnlyWindowStore(_Composite):
    def fetch(self, *args: Any) -> Any:
        """`fetch(key, time)` -> value; `fetch(key, from, to)` -> KeyValue(start, value) iterator;
        `fetch(key_from, key_to, from, to)` -> KeyValue(Windowed, value) iterator."""
        if len(args) == 2:
            for s in self._stores():
                v = _stable(lambda s=s: s.fetch(*args))  # type: ignore[misc]
                if v is not None:
                    return v
            return None
        if len(args) == 3:  # one key: it lives in one partition
            for s in self._stores():
                found = _stable(lambda s=s: list(s.fetch(*args)))  # type: ignore[misc]
                if found:
                    return iter(found)
            return iter([])
        return iter(self._all(lambda s: list(s.fetch(*args))))

    def fetch_all(
        self, t_from: int | datetime, t_to: int | datetime
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        f, t = to_epoch_ms(t_from), to_epoch_ms(t_to)
        return iter(self._all(lambda s: list(s.fetch_all(f, t))))

    def all(self) -> Iterator[KeyValue[Windowed[Any], Any]]:
        return iter(self._all(lambda s: list(s.fetch_all(0, MAX_LONG))))


class CompositeReadOnlySessionStore(_Composite):
    def fetch(self, key: Any) -> Iterator[KeyValue[Windowed[Any], Any]]:
        for s in self._stores():
            found = _stable(lambda s=s: list(s.fetch(key)))  # type: ignore[misc]
            if found:
                return iter(found)
        return iter([])

    def find_sessions(
        self, key: Any, earliest_end: int, latest_start: int
    ) -> Iterator[KeyValue[Windowed[Any], Any]]:
        for s in self._stores():
            found = _stable(lambda s=s: list(s.find_sessions(key, earliest_end, latest_start)))  # type: ignore[misc]
            if found:
                return iter(found)
        return iter([])

    def all(self) -> Iterator[KeyValue[Windowed[Any], Any]]:
        """Every live session of every key (riverlog's addition, as the store's own `all`)."""
        return iter(self._all(lambda s: list(s.all())))


def composite_store(
    params: StoreQueryParameters, kind: str, stores: Callable[[], list[Any]]
) -> Any:
    """The read-only view of `params.store_name` over the stores `stores()` returns."""
    qt = params.query_type
    if qt.kind != kind:
        raise InvalidStateStoreException(
            f"Cannot get state store {params.store_name} because the queryable store type "
            f"[{qt.kind}] does not accept the actual store type [{kind}]."
        )
    if kind == "kv":
        return CompositeReadOnlyKeyValueStore(params.store_name, stores, qt.timestamped)
    if kind == "window":
        return CompositeReadOnlyWindowStore(params.store_name, stores)
    return CompositeReadOnlySessionStore(params.store_name, stores)
