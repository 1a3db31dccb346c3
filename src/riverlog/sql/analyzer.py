"""Binding a query: names, types, keys, aggregation and the output schema (no topology yet).

`analyze(query, metastore, sink_name, persistent)` returns an `Analysis` the builder turns into a
topology. ksqlDB's rules enforced here: the key column(s) — the source key, the PARTITION BY or the
GROUP BY expressions — must be in a persistent query's projection; non-aggregate SELECT expressions
must be GROUP BY expressions; EMIT FINAL needs a windowed aggregation; a STREAM result cannot
become a table without GROUP BY and a TABLE result cannot become a stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.aggregates import AGGREGATES, Udaf
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.expressions import Compiled, ExpressionCompiler, Fn, Scope, Slot, expression_text
from riverlog.sql.formats import Column
from riverlog.sql.join_analysis import (
    JoinInfo,
    analyze_join,
    analyze_next_join,
    check_all_criteria,
    join_keys,
)
from riverlog.sql.metastore import DataSource, MetaStore, WindowInfo
from riverlog.sql.scopes import map_children, same_expr, source_scope

PSEUDO = ("ROWTIME", "ROWPARTITION", "ROWOFFSET")
WINDOW_BOUNDS = ("WINDOWSTART", "WINDOWEND")


@dataclass
class Projected:
    name: str
    compiled: Compiled
    expr: ast.Expr


@dataclass
class AggregateCall:
    udaf: Udaf
    args: list[Fn]
    name: str


@dataclass
class Analysis:
    query: ast.Query
    source: DataSource
    alias: str
    scope: Scope
    where: Fn | None = None
    partition_by: list[Compiled] | None = None
    group_by: list[Compiled] | None = None
    group_is_source_key: bool = False
    aggregates: list[AggregateCall] = field(default_factory=list)
    post_scope: Scope | None = None
    having: Fn | None = None
    window: ast.WindowSpec | None = None
    projection: list[Projected] = field(default_factory=list)
    key_index: list[int] = field(default_factory=list)
    value_index: list[int] = field(default_factory=list)
    result_kind: str = "STREAM"
    join: JoinInfo | None = None
    more_joins: list[JoinInfo] = field(default_factory=list)  # N-way: further stream-table joins
    table_functions: list[tuple[str, Fn]] = field(default_factory=list)  # EXPLODE args

    @property
    def key_columns(self) -> list[Column]:
        ns = "PRIMARY_KEY" if self.result_kind == "TABLE" else "KEY"
        return [
            Column(self.projection[i].name, self.projection[i].compiled.type, ns)
            for i in self.key_index
        ]

    @property
    def value_columns(self) -> list[Column]:
        return [
            Column(self.projection[i].name, self.projection[i].compiled.type)
            for i in self.value_index
        ]

    @property
    def output_window(self) -> WindowInfo | None:
        if self.window is None:
            return self.source.window if self.group_by is None else None
        size = None if self.window.kind == "SESSION" else self.window.size_ms
        return WindowInfo(self.window.kind, size)


def _ambiguous(scope: Scope, e: ast.Expr) -> bool:
    """A qualified column whose name more than one source of a join has."""
    if not isinstance(e, ast.Column) or e.source is None:
        return False
    return len({s.source for s in scope.slots if s.name == e.name and s.source}) > 1


def _name_of(item: ast.SelectItem, index: int) -> str:
    if item.alias:
        return item.alias
    e = item.expr
    if isinstance(e, ast.Column):
        return e.name
    if isinstance(e, ast.Dereference):
        return e.field_name
    return f"KSQL_COL_{index}"


def analyze(
    query: ast.Query,
    metastore: MetaStore,
    sink_name: str | None = None,
    persistent: bool = True,
) -> Analysis:
    source = metastore.get(query.source.name)
    alias = query.source.ref
    scope = source_scope(source, alias)
    a = Analysis(query, source, alias, scope, window=query.window)
    if query.joins:
        check_all_criteria(query, scope, metastore)
        a.join = analyze_join(query, source, alias, metastore)
        scope = a.scope = Scope(scope.slots + source_scope(a.join.right, a.join.right_alias).slots)
        if a.join.synthetic_key:  # ksqlDB's ROWKEY: the join key, after both sides' columns
            scope = a.scope = scope.extend([Slot("ROWKEY", a.join.left_key.type)])
        for j in query.joins[1:]:
            extra = analyze_next_join(j, a, metastore)
            a.more_joins.append(extra)
            scope = a.scope = Scope(
                scope.slots + source_scope(extra.right, extra.right_alias).slots
            )
            if extra.synthetic_key:  # the earlier ROWKEY stays in the row, hidden
                slots = [
                    Slot(f"KSQL_ROWKEY_{i}", s.type, None, True) if s.name == "ROWKEY" else s
                    for i, s in enumerate(scope.slots)
                ]
                scope = a.scope = Scope([*slots, Slot("ROWKEY", extra.left_key.type)])
    compiler = ExpressionCompiler(scope)
    if query.where is not None:
        a.where = compiler.predicate(query.where)
    items = _expand(query.select, source, alias, a.join, a.more_joins)
    aggregate = bool(query.group_by) or any(_has_aggregate(i.expr) for i in items if i.expr)
    if query.window is not None and not aggregate:
        raise SqlStatementError("WINDOW clause requires a GROUP BY clause.")
    if query.emit == "FINAL" and (query.window is None or not aggregate):
        raise SqlStatementError("EMIT FINAL is only supported for windowed aggregations.")
    if aggregate:
        _analyze_aggregation(a, items, compiler)
        a.result_kind = "TABLE"
    else:
        if query.having is not None:
            raise SqlStatementError("HAVING clause requires a GROUP BY clause.")
        a.result_kind = source.kind
        if query.partition_by:
            if source.kind == "TABLE":
                raise SqlStatementError("Partition By is not supported on tables.")
            by_key = [getattr(p, "name", None) for p in query.partition_by] == [
                c.name for c in source.key_columns
            ]
            if source.window is not None and not by_key:  # ksqlDB's SchemaKStream.selectKey
                raise SqlStatementError(
                    "Implicit repartitioning of windowed sources is not supported. "
                    "See https://github.com/confluentinc/ksql/issues/4385."
                )
            if by_key:
                pass  # the key stays as it is: no repartition (ksqlDB's repartitionNotNeeded)
            elif _is_null(query.partition_by):
                a.partition_by = []
            else:
                a.partition_by = [compiler.compile(p) for p in query.partition_by]
        items, compiler = _table_functions(a, items, compiler)
        for i, item in enumerate(items):
            assert item.expr is not None
            name = _name_of(item, i)
            if a.join is not None and item.alias is None and _ambiguous(a.scope, item.expr):
                assert isinstance(item.expr, ast.Column)
                name = f"{item.expr.source}_{name}"  # ksqlDB: `t.id` of a join is T_ID
            a.projection.append(Projected(name, compiler.compile(item.expr), item.expr))
        if query.partition_by and a.partition_by:
            keys = list(query.partition_by)
        elif query.partition_by and a.partition_by is not None:  # PARTITION BY NULL
            keys = []
        elif a.join is not None:
            keys = join_keys(a, sink_name, persistent)
        else:
            keys = [ast.Column(c.name, None) for c in source.key_columns]
        _assign_keys(
            a, keys, sink_name, persistent, "partitioning" if query.partition_by else "key"
        )
    _check_names(a, persistent)
    return a


def _expand(
    select: tuple[ast.SelectItem, ...],
    source: DataSource,
    alias: str,
    join: JoinInfo | None,
    more: list[JoinInfo] | None = None,
) -> list[ast.SelectItem]:
    sides = [(alias, source)] + ([(join.right_alias, join.right)] if join else [])
    sides += [(j.right_alias, j.right) for j in more or []]
    out: list[ast.SelectItem] = []
    for item in select:
        if item.expr is not None:
            out.append(item)
            continue
        last = more[-1] if more else join
        if last is not None and last.synthetic_key and item.all_of is None:
            out.append(ast.SelectItem(ast.Column("ROWKEY", None)))
        chosen = [(al, src) for al, src in sides if item.all_of in (None, al)]
        if not chosen:
            raise SqlStatementError(f"'{item.all_of}' is not a valid stream/table name or alias.")
        for al, src in chosen:
            for c in src.key_columns + src.value_columns:
                if join is None:
                    out.append(ast.SelectItem(ast.Column(c.name, None)))
                else:  # ksqlDB names a join's columns <ALIAS>_<COLUMN>
                    out.append(ast.SelectItem(ast.Column(c.name, al), f"{al}_{c.name}"))
    return out


TABLE_FUNCTIONS = ("EXPLODE", "CUBE_EXPLODE")


def _table_functions(
    a: Analysis, items: list[ast.SelectItem], compiler: ExpressionCompiler
) -> tuple[list[ast.SelectItem], ExpressionCompiler]:
    """EXPLODE(array) / CUBE_EXPLODE(array) in the SELECT list: each becomes a column of the
    rows the flat-map adds after the source columns (ksqlDB's UDTFs; several zip, shorter ones
    padded with NULL)."""
    calls: list[tuple[str, Compiled]] = []
    out: list[ast.SelectItem] = []
    for i, item in enumerate(items):
        e = item.expr
        if isinstance(e, ast.Call) and e.name in TABLE_FUNCTIONS:
            if len(e.args) != 1:
                raise SqlStatementError(f"{e.name} takes one ARRAY argument")
            arg = compiler.compile(e.args[0])
            if arg.type.base != "ARRAY":
                raise SqlStatementError(f"{e.name} expects an ARRAY, got {arg.type}")
            calls.append((e.name, arg))
            col = ast.Column(f"KSQL_SYNTH_{len(calls) - 1}", None, line=e.line, column=e.column)
            out.append(ast.SelectItem(col, item.alias or f"KSQL_COL_{i}"))
        else:
            out.append(item)
    if not calls:
        return items, compiler
    a.table_functions = [(name, c.fn) for name, c in calls]
    extra = []
    for j, (name, c) in enumerate(calls):
        t = c.type.items[0] if name == "EXPLODE" else c.type
        extra.append(Slot(f"KSQL_SYNTH_{j}", t, None, True))
    a.scope = a.scope.extend(extra)
    return out, ExpressionCompiler(a.scope)


def _is_null(exprs: tuple[ast.Expr, ...]) -> bool:
    return len(exprs) == 1 and isinstance(exprs[0], ast.Literal) and exprs[0].kind == "null"


def _has_aggregate(e: ast.Expr | None) -> bool:
    if e is None:
        return False
    if isinstance(e, ast.Call) and e.name in AGGREGATES:
        return True
    found = False

    def visit(child: ast.Expr) -> ast.Expr:
        nonlocal found
        found = found or _has_aggregate(child)
        return child

    map_children(e, visit)
    return found


def _assign_keys(
    a: Analysis, keys: list[ast.Expr], sink: str | None, persistent: bool, what: str
) -> None:
    for k in keys:
        idx = next(
            (
                i
                for i, p in enumerate(a.projection)
                if i not in a.key_index and same_expr(p.expr, k)
            ),
            None,
        )
        if idx is None:
            if not persistent:
                continue
            raise SqlStatementError(
                "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                f"The query used to build `{sink}` must include the {what} expression "
                f"{expression_text(k)} in its projection (eg, SELECT {expression_text(k)}...)."
            )
        a.key_index.append(idx)
    if not persistent:
        a.key_index = []
    a.value_index = [i for i in range(len(a.projection)) if i not in a.key_index]


def _analyze_aggregation(
    a: Analysis, items: list[ast.SelectItem], compiler: ExpressionCompiler
) -> None:
    q = a.query
    if not q.group_by:
        raise SqlStatementError(
            "Aggregate functions need a GROUP BY clause (ksqlDB has no global aggregation)."
        )
    if q.partition_by:
        raise SqlStatementError("PARTITION BY and GROUP BY in the same query are not supported.")
    group = list(q.group_by)
    a.group_by = [compiler.compile(g) for g in group]
    src_keys = [c.name for c in a.source.key_columns]
    a.group_is_source_key = (
        a.source.kind == "STREAM"
        and a.source.window is None
        and len(group) == len(src_keys)
        and all(
            isinstance(g, ast.Column) and g.name == k for g, k in zip(group, src_keys, strict=True)
        )
    )
    agg_calls: list[ast.Call] = []

    def rewrite(e: ast.Expr) -> ast.Expr:
        for i, g in enumerate(group):
            if same_expr(e, g):
                return ast.Column(f"KSQL_GB_{i}", None, line=e.line, column=e.column)
        if isinstance(e, ast.Call) and e.name in AGGREGATES:
            for j, c in enumerate(agg_calls):
                if c == e:
                    return ast.Column(f"KSQL_AGG_{j}", None, line=e.line, column=e.column)
            agg_calls.append(e)
            return ast.Column(f"KSQL_AGG_{len(agg_calls) - 1}", None, line=e.line, column=e.column)
        return map_children(e, rewrite)

    rewritten = [(item, rewrite(item.expr)) for item in items if item.expr is not None]
    having = rewrite(q.having) if q.having is not None else None
    # the aggregate functions, compiled over the source row
    for call in agg_calls:
        fn = AGGREGATES[call.name]
        args = [compiler.compile(x) for x in call.args if not isinstance(x, ast.Literal)]
        lits = [x.value if isinstance(x, ast.Literal) else None for x in call.args]
        if call.args and isinstance(call.args[0], ast.Literal) and call.args[0].kind != "null":
            args = [compiler.compile(call.args[0]), *args]
        try:
            udaf = fn.make([c.type for c in args], lits, call.star)
        except (ValueError, IndexError, TypeError) as e:
            raise SqlStatementError(
                f"Invalid arguments to {call.name}: {e}", call.line, call.column
            ) from None
        if a.source.kind == "TABLE" and not udaf.can_undo:
            raise SqlStatementError(
                f"The aggregation function(s) ({call.name}) cannot be applied to a table source, "
                "only to a stream source."
            )
        a.aggregates.append(AggregateCall(udaf, [c.fn for c in args], call.name))
    slots = [Slot(f"KSQL_GB_{i}", c.type, None, True) for i, c in enumerate(a.group_by)]
    slots += [
        Slot(f"KSQL_AGG_{j}", ac.udaf.returns, None, True) for j, ac in enumerate(a.aggregates)
    ]
    slots += [Slot("WINDOWSTART", T.BIGINT, None, True), Slot("WINDOWEND", T.BIGINT, None, True)]
    a.post_scope = Scope(slots)
    post = ExpressionCompiler(a.post_scope)
    for i, (item, expr) in enumerate(rewritten):
        try:
            compiled = post.compile(expr)
        except SqlStatementError as e:
            if "cannot be resolved" in str(e):
                raise SqlStatementError(
                    "Non-aggregate SELECT expression(s) not part of GROUP BY: "
                    f"{expression_text(item.expr)}"  # type: ignore[arg-type]
                ) from None
            raise
        a.projection.append(Projected(_name_of(item, i), compiled, item.expr))  # type: ignore[arg-type]
    if having is not None:
        try:
            a.having = post.predicate(having)
        except SqlStatementError as e:
            if "cannot be resolved" in str(e):
                raise SqlStatementError(
                    "Non-aggregate HAVING expression not part of GROUP BY: "
                    f"{expression_text(q.having)}"  # type: ignore[arg-type]
                ) from None
            raise
    a.key_index = []
    for i, g in enumerate(group):
        idx = next((j for j, p in enumerate(a.projection) if same_expr(p.expr, g)), None)
        if idx is None:
            idx = next(
                (
                    j
                    for j, p in enumerate(a.projection)
                    if isinstance(p.expr, ast.Column) and p.expr.name == f"KSQL_GB_{i}"
                ),
                None,
            )
        if idx is None:
            raise SqlStatementError(
                "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                "The query used to build the result must include the grouping expression "
                f"{expression_text(g)} in its projection (eg, SELECT {expression_text(g)}...)."
            )
        a.key_index.append(idx)
    a.value_index = [i for i in range(len(a.projection)) if i not in a.key_index]


def _check_names(a: Analysis, persistent: bool) -> None:
    seen: set[str] = set()
    for p in a.projection:
        if p.name in seen:
            raise SqlStatementError(
                f"Duplicate value columns found in schema: `{p.name}` {p.compiled.type}"
            )
        if (persistent and (p.name in PSEUDO)) or (
            p.name in WINDOW_BOUNDS and a.window is None and a.source.window is None
        ):
            raise SqlStatementError(
                f"Reserved column name in select: `{p.name}`. Please remove or alias the column."
            )
        seen.add(p.name)
