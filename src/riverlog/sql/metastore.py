"""The metastore: streams, tables and custom types known to an engine.

Invariants: names are unique across streams and tables; a source read by a running query cannot
be dropped; the store changes only by executing statements (the command log replays them in
order, so a restarted engine rebuilds the same store).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riverlog.sql import types as T
from riverlog.sql.errors import SqlNotFoundError, SqlStatementError
from riverlog.sql.formats import Column


@dataclass(frozen=True)
class WindowInfo:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int | None = None


@dataclass
class DataSource:
    name: str
    kind: str  # STREAM | TABLE
    columns: list[Column]
    topic: str
    key_format: str
    value_format: str
    props: dict[str, object] = field(default_factory=dict)
    window: WindowInfo | None = None
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    partitions: int = 1
    replicas: int = 1
    sql: str = ""
    is_source: bool = False  # CREATE SOURCE STREAM/TABLE: read-only
    written_by: set[str] = field(default_factory=set)  # query ids writing into it
    read_by: set[str] = field(default_factory=set)

    @property
    def key_columns(self) -> list[Column]:
        return [c for c in self.columns if c.namespace in ("KEY", "PRIMARY_KEY")]

    @property
    def value_columns(self) -> list[Column]:
        return [c for c in self.columns if c.namespace == "VALUE"]

    @property
    def header_columns(self) -> list[Column]:
        return [c for c in self.columns if c.namespace.startswith("HEADER")]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def schema_text(self) -> str:
        """ksqlDB's schema string: `ID BIGINT KEY, NAME STRING`."""
        parts = []
        for c in self.columns:
            suffix = {"KEY": " KEY", "PRIMARY_KEY": " PRIMARY KEY", "HEADERS": " HEADERS"}.get(
                c.namespace, ""
            )
            parts.append(f"`{c.name}` {c.type}{suffix}")
        return ", ".join(parts)


class MetaStore:
    def __init__(self) -> None:
        self.sources: dict[str, DataSource] = {}
        self.types: dict[str, T.SqlType] = {}

    def get(self, name: str) -> DataSource:
        s = self.sources.get(name)
        if s is None:
            raise SqlNotFoundError(f"{name} does not exist.")
        return s

    def find(self, name: str) -> DataSource | None:
        return self.sources.get(name)

    def put(self, source: DataSource, replace: bool = False) -> None:
        existing = self.sources.get(source.name)
        if existing is not None and not replace:
            kind = existing.kind.lower()
            raise SqlStatementError(
                f"Cannot add {source.kind.lower()} '{source.name}': A {kind} with the same name "
                "already exists"
            )
        if existing is not None:
            source.read_by |= existing.read_by
            source.written_by |= existing.written_by
        self.sources[source.name] = source

    def drop(self, name: str) -> DataSource:
        s = self.get(name)
        if s.read_by or s.written_by:
            ids = ", ".join(sorted(s.read_by | s.written_by))
            raise SqlStatementError(
                f"Cannot drop {name}.\nThe following queries read from this source: "
                f"[{', '.join(sorted(s.read_by))}].\nThe following queries write into this source: "
                f"[{', '.join(sorted(s.written_by))}].\nYou need to terminate them before dropping "
                f"{name}. ({ids})"
            )
        del self.sources[name]
        return s

    def streams(self) -> list[DataSource]:
        return sorted(
            (s for s in self.sources.values() if s.kind == "STREAM"), key=lambda s: s.name
        )

    def tables(self) -> list[DataSource]:
        return sorted((s for s in self.sources.values() if s.kind == "TABLE"), key=lambda s: s.name)
