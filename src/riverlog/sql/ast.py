"""The SQL abstract syntax tree: frozen dataclasses for expressions and statements.

Names are already normalised by the parser (unquoted identifiers upper-cased). Every node keeps
the `line`/`column` it starts at so the binder can point errors at the source text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

# ---- types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeRef:
    """A type as written: `BIGINT`, `DECIMAL(4, 2)`, `ARRAY<STRING>`, a custom type's name."""

    name: str
    params: tuple[int, ...] = ()
    items: tuple[TypeRef, ...] = ()  # ARRAY: (item,), MAP: (key, value)
    fields: tuple[tuple[str, TypeRef], ...] = ()  # STRUCT


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    line: int = field(default=0, compare=False, kw_only=True)
    column: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Literal(Node):
    value: object  # None, bool, int, Decimal, float, str
    kind: str  # "null" | "boolean" | "integer" | "decimal" | "double" | "string"


@dataclass(frozen=True)
class Column(Node):
    name: str
    source: str | None = None  # the qualifier in `S.COL`


@dataclass(frozen=True)
class Call(Node):
    name: str  # upper-cased function name
    args: tuple[Expr, ...]
    star: bool = False  # COUNT(*)


@dataclass(frozen=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % || AND OR = <> < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary(Node):
    op: str  # - + NOT
    operand: Expr


@dataclass(frozen=True)
class Between(Node):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class InList(Node):
    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like(Node):
    value: Expr
    pattern: Expr
    escape: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class IsNull(Node):
    value: Expr
    negated: bool = False


@dataclass(frozen=True)
class IsDistinct(Node):
    left: Expr
    right: Expr
    negated: bool = False


@dataclass(frozen=True)
class Cast(Node):
    value: Expr
    type: TypeRef


@dataclass(frozen=True)
class Case(Node):
    operand: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


@dataclass(frozen=True)
class ArrayCtor(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class MapCtor(Node):
    entries: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class StructCtor(Node):
    fields: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class Subscript(Node):
    base: Expr
    index: Expr


@dataclass(frozen=True)
class Dereference(Node):
    base: Expr
    field_name: str


Expr = Union[  # noqa: UP007  (a runtime alias of many classes)
    Literal,
    Column,
    Call,
    Lambda,
    Binary,
    Unary,
    Between,
    InList,
    Like,
    IsNull,
    IsDistinct,
    Cast,
    Case,
    ArrayCtor,
    MapCtor,
    StructCtor,
    Subscript,
    Dereference,
]

# ---- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectItem:
    expr: Expr | None  # None for `*` / `S.*`
    alias: str | None = None
    all_of: str | None = None  # `S.*`


@dataclass(frozen=True)
class WindowSpec:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int
    advance_ms: int | None = None
    retention_ms: int | None = None
    grace_ms: int | None = None


@dataclass(frozen=True)
class Relation:
    name: str
    alias: str | None = None

    @property
    def ref(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Join:
    kind: str  # INNER | LEFT | RIGHT | FULL
    right: Relation
    on: Expr
    within: tuple[int, int] | None = None  # (before_ms, after_ms)
    grace_ms: int | None = None


@dataclass(frozen=True)
class Query:
    select: tuple[SelectItem, ...]
    source: Relation
    joins: tuple[Join, ...] = ()
    window: WindowSpec | None = None
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    partition_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    emit: str | None = None  # CHANGES | FINAL | None (pull)
    limit: int | None = None


# ---- statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    text: str = field(default="", compare=False, kw_only=True)
    line: int = field(default=1, compare=False, kw_only=True)
    column: int = field(default=1, compare=False, kw_only=True)


@dataclass(frozen=True)
class TableElement:
    name: str
    type: TypeRef
    constraint: str | None = None  # KEY | PRIMARY KEY | HEADERS | HEADER
    header_key: str | None = None


@dataclass(frozen=True)
class QueryStatement(Statement):
    query: Query


@dataclass(frozen=True)
class CreateSource(Statement):
    kind: str  # STREAM | TABLE
    name: str
    elements: tuple[TableElement, ...]
    properties: dict[str, object]
    or_replace: bool = False
    if_not_exists: bool = False
    source: bool = False  # CREATE SOURCE TABLE: read-only


@dataclass(frozen=True)
class CreateAsSelect(Statement):
    kind: str  # STREAM | TABLE
    name: str
    query: Query
    properties: dict[str, object]
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass(frozen=True)
class InsertInto(Statement):
    target: str
    query: Query
    properties: dict[str, object]


@dataclass(frozen=True)
class InsertValues(Statement):
    target: str
    columns: tuple[str, ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class DropSource(Statement):
    kind: str
    name: str
    if_exists: bool = False
    delete_topic: bool = False


@dataclass(frozen=True)
class CreateType(Statement):
    name: str
    type: TypeRef
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class ListStatement(Statement):
    what: str  # STREAMS TABLES TOPICS QUERIES PROPERTIES FUNCTIONS TYPES VARIABLES CONNECTORS
    extended: bool = False
    qualifier: str | None = None  # ALL for topics, SOURCE/SINK for connectors


@dataclass(frozen=True)
class Describe(Statement):
    name: str | None  # None: DESCRIBE STREAMS|TABLES
    extended: bool = False
    what: str = "SOURCE"  # SOURCE | STREAMS | TABLES | FUNCTION | CONNECTOR


@dataclass(frozen=True)
class PrintTopic(Statement):
    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class QueryControl(Statement):
    action: str  # TERMINATE | PAUSE | RESUME
    query_id: str  # or ALL


@dataclass(frozen=True)
class SetProperty(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str


@dataclass(frozen=True)
class DefineVariable(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str


@dataclass(frozen=True)
class Explain(Statement):
    statement: Statement | None
    query_id: str | None = None


@dataclass(frozen=True)
class RunScript(Statement):
    path: str


@dataclass(frozen=True)
class CreateConnector(Statement):
    kind: str  # SOURCE | SINK
    name: str
    properties: dict[str, object]
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropConnector(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class AlterSource(Statement):
    """ALTER STREAM|TABLE name ADD [COLUMN] col type, …: value columns appended."""

    kind: str = "STREAM"  # STREAM | TABLE
    name: str = ""
    columns: tuple[tuple[str, TypeRef], ...] = ()


@dataclass(frozen=True)
class AssertTopic(Statement):
    """ASSERT [NOT EXISTS] TOPIC name [WITH (PARTITIONS=…, REPLICAS=…)] [TIMEOUT n unit]."""

    topic: str = ""
    exists: bool = True
    props: dict[str, object] = field(default_factory=dict)
    timeout_ms: int | None = None


@dataclass(frozen=True)
class AssertSchema(Statement):
    """ASSERT [NOT EXISTS] SCHEMA [SUBJECT name] [ID n] [TIMEOUT n unit]."""

    subject: str | None = None
    schema_id: int | None = None
    exists: bool = True
    timeout_ms: int | None = None
