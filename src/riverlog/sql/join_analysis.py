"""Binding a query's joins (ksqlDB's rules): stream-table on the table's primary key,
stream-stream WITHIN a window (INNER, LEFT, RIGHT, FULL OUTER), table-table on the primary keys or
a foreign key, N-way chains of them; the join criteria checks ksqlDB makes, and which projected
expression keys the result (ROWKEY after a FULL OUTER join, the left primary key after a
foreign-key join, otherwise any of the equal join expressions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from riverlog.sql import ast
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.expressions import Compiled, ExpressionCompiler, Scope, expression_text
from riverlog.sql.metastore import DataSource, MetaStore
from riverlog.sql.scopes import qualified, qualified_in, same_expr, source_scope, sources_of

if TYPE_CHECKING:
    from riverlog.sql.analyzer import Analysis


@dataclass
class JoinInfo:
    """A stream-table join: the right table, how to find the left row's join key, and its width."""

    right: DataSource
    right_alias: str
    kind: str  # INNER | LEFT | RIGHT | FULL
    left_key: Compiled
    left_key_expr: ast.Expr
    right_key_expr: ast.Expr
    left_is_key: bool  # joining on the stream's own key: no repartition
    right_width: int
    right_key: Compiled | None = None  # stream-stream joins: the right side's join expression
    right_is_key: bool = True
    within: tuple[int, int] | None = None  # stream-stream joins: (before, after) ms
    grace_ms: int | None = None
    # FULL OUTER stream-stream joins: the key is ksqlDB's synthetic ROWKEY column, appended to
    # the joined row (either side's key column may be NULL)
    synthetic_key: bool = False
    # table-table joins from a left column other than its primary key (Kafka Streams' FK join):
    # the result is keyed by the left table's primary key
    foreign_key: bool = False


def _check_fk_keys(a: Analysis, keys: list[ast.Column], table: str) -> None:
    """A foreign-key join's result is keyed by the left table's primary key: every one of its
    columns must be projected."""
    for k in keys:
        names = [p.name for p in a.projection if same_expr(p.expr, k)]
        if len(names) > 1:
            raise SqlStatementError(
                f"The projection contains a key column (`{k.source}_{k.name}`) more than once, "
                f"aliased as: {' and '.join(names)}."
            )
    missing = [k.name for k in keys if not any(same_expr(p.expr, k) for p in a.projection)]
    if not missing:
        return
    many = len(missing) > 1
    raise SqlStatementError(
        f"Primary key column{'s' if many else ''} missing in projection. For foreign-key "
        "table-table joins, the projection must include all primary key columns from the left "
        f"input table (`{table}`). Missing column{'s' if many else ''}: "
        + ", ".join(f"`{m}`" for m in missing)
        + "."
    )


def analyze_join(query: ast.Query, left: DataSource, lalias: str, metastore: MetaStore) -> JoinInfo:
    j = query.joins[0]
    right = metastore.get(j.right.name)
    ralias = j.right.ref
    if ralias == lalias:
        raise SqlStatementError(
            f"Can not join '{lalias}' to '{ralias}': self joins require aliases."
        )
    if left.kind == "STREAM" and right.kind == "STREAM":
        return _stream_stream_join(j, left, lalias, right, ralias)
    if left.kind == "TABLE" and right.kind == "STREAM":
        raise SqlStatementError(
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            f"Got {left.name} [{j.kind}] JOIN {right.name}."
        )
    table_table = left.kind == "TABLE"
    if j.kind not in ("INNER", "LEFT") and not table_table:
        raise SqlStatementError(
            f"{j.kind} OUTER joins between a stream and a table are not supported."
        )
    if j.kind == "RIGHT" and not table_table:
        raise SqlStatementError(
            "RIGHT OUTER joins are supported between tables only (a stream-table join keeps the "
            "stream on the left)."
        )
    if j.within is not None:
        raise SqlStatementError("A join with a table does not take a WITHIN clause.")
    on = j.on
    if not (isinstance(on, ast.Binary) and on.op == "="):
        raise SqlStatementError(
            "Unsupported join expression: only an equality (a = b) is supported."
        )
    lscope, rscope = source_scope(left, lalias), source_scope(right, ralias)
    _check_criteria(on, lscope, rscope)
    sides: list[tuple[str, Compiled, ast.Expr]] = []
    for e in (on.left, on.right):
        try:
            sides.append(("L", ExpressionCompiler(lscope).compile(e), e))
        except SqlStatementError:
            sides.append(("R", ExpressionCompiler(rscope).compile(e), e))
    if sorted(s[0] for s in sides) != ["L", "R"]:
        raise SqlStatementError(
            "Invalid comparison expression in join: each side must come from one source: "
            f"{expression_text(on)}"
        )
    (lc, le), (rc, re_) = [(c, e) for side in ("L", "R") for t, c, e in sides if t == side]
    rkeys = [c.name for c in right.key_columns]
    if lc.type != rc.type:
        raise SqlStatementError(
            f"Invalid join condition: types don't match. Got {qualified(le, lalias)}"
            f"{{{lc.type}}} = {qualified(re_, ralias)}{{{rc.type}}}."
        )
    if not (isinstance(re_, ast.Column) and rkeys == [re_.name]):
        if table_table:
            raise SqlStatementError(
                "Invalid join condition: table-table joins require to join on the primary key "
                f"of the right input table. Got {qualified(le, lalias)} = "
                f"{qualified(re_, ralias)}."
            )
        raise SqlStatementError(
            f"Cannot join on {expression_text(re_)}: a stream-table join must use the table's "
            f"primary key ({', '.join(rkeys)})."
        )
    if lc.type != rc.type:
        raise SqlStatementError(
            f"Invalid join condition: types don't match. Got {expression_text(le)}{{{lc.type}}} = "
            f"{expression_text(re_)}{{{rc.type}}}."
        )
    lkeys = [c.name for c in left.key_columns]
    left_is_key = isinstance(le, ast.Column) and lkeys == [le.name]
    foreign = table_table and not left_is_key
    if foreign and j.kind in ("RIGHT", "FULL"):
        what = "RIGHT" if j.kind == "RIGHT" else "FULL"
        raise SqlStatementError(f"{what} OUTER JOIN on a foreign key is not supported")
    info = JoinInfo(right, ralias, j.kind, lc, le, re_, left_is_key, len(rscope.slots))
    info.foreign_key = foreign
    # a FULL OUTER join's key is ROWKEY (riverlog.sql also takes either side's key column)
    info.synthetic_key = j.kind == "FULL"
    return info


def analyze_next_join(j: ast.Join, a: Analysis, metastore: MetaStore) -> JoinInfo:
    """The second and later joins of an N-way join: the rows so far joined to a further source.
    Streams so far join a table (on its primary key) or a stream (WITHIN); tables so far join a
    table on their primary key (ksqlDB allows a foreign-key join only as the first step)."""
    right = metastore.get(j.right.name)
    ralias = j.right.ref
    if any(s.source == ralias for s in a.scope.slots):
        raise SqlStatementError(
            f"N-way joins do not support multiple occurrences of the same source. Source: "
            f"'{right.name}'"
        )
    prev = a.more_joins[-1] if a.more_joins else a.join
    assert prev is not None
    left_kind = a.source.kind
    if left_kind == "TABLE" and right.kind == "STREAM":
        raise SqlStatementError(
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            f"Got {a.source.name} [{j.kind}] JOIN {right.name}."
        )
    rscope = source_scope(right, ralias)
    lc, le, rc, re_ = _join_sides(j.on, a.scope, rscope)
    n = len(rscope.slots)
    if prev.synthetic_key and not any(
        same_expr(le, k) for k in [ast.Column("ROWKEY", None), *_sides(prev)]
    ):
        raise SqlStatementError(
            "A join after a FULL OUTER join must use its key (ROWKEY or a join column)."
        )
    # (ksqlDB joins on the named column itself: a row whose side is NULL matches nothing)
    if right.kind == "STREAM":
        if j.within is None:
            raise SqlStatementError(
                "Stream-Stream joins must have a WITHIN clause specified. None was provided."
            )
        rkeys = [c.name for c in right.key_columns]
        right_is_key = isinstance(re_, ast.Column) and rkeys == [re_.name]
        return JoinInfo(
            right, ralias, j.kind, lc, le, re_, False, n, rc, right_is_key, j.within,
            j.grace_ms, j.kind == "FULL" or (
                _no_column(le, re_) and not any(same_expr(le, k) for k in _key_exprs(a))
            ),
        )  # fmt: skip
    if j.within is not None:
        raise SqlStatementError("A join with a table does not take a WITHIN clause.")
    rkeys = [c.name for c in right.key_columns]
    if not (isinstance(re_, ast.Column) and rkeys == [re_.name]):
        raise SqlStatementError(
            f"Cannot join on {expression_text(re_)}: a join with a table must use the table's "
            f"primary key ({', '.join(rkeys)})."
        )
    if left_kind == "STREAM":
        if j.kind not in ("INNER", "LEFT"):
            raise SqlStatementError(
                f"{j.kind} OUTER joins between a stream and a table are not supported."
            )
        return JoinInfo(right, ralias, j.kind, lc, le, re_, False, n)
    if not any(same_expr(le, k) for k in _key_exprs(a)):
        raise SqlStatementError(
            "Invalid join condition: foreign-key table-table joins are not supported as part of "
            f"n-way joins. Got {qualified_in(a.scope, le)} = {qualified(re_, ralias)}."
        )
    del rc
    return JoinInfo(right, ralias, j.kind, lc, le, re_, True, n, synthetic_key=j.kind == "FULL")


def _key_exprs(a: Analysis) -> list[ast.Expr]:
    """The expressions equal to the key of the rows joined so far: the last join's two sides and,
    while each join kept the key of the one before, the earlier joins' sides too (a foreign-key
    first step keys its rows by the left table's primary key)."""
    joins = [j for j in (a.join, *a.more_joins) if j is not None]
    out: list[ast.Expr] = []
    for i in range(len(joins) - 1, -1, -1):
        j = joins[i]
        if j.synthetic_key:
            out.append(ast.Column("ROWKEY", None))
            if j.within is not None:
                break  # ksqlDB keys a FULL OUTER stream-stream join on ROWKEY only
        if j.foreign_key:
            out += [ast.Column(c.name, a.alias) for c in a.source.key_columns]
        else:
            out += [j.left_key_expr, j.right_key_expr]
        if i == 0:
            break
        prev = joins[i - 1]
        earlier = _sides(prev) + ([ast.Column("ROWKEY", None)] if prev.synthetic_key else [])
        if not any(same_expr(j.left_key_expr, e) for e in earlier):
            break  # this join re-keyed the rows: the earlier keys are not this key
    return out


def _no_column(le: ast.Expr, re_: ast.Expr) -> bool:
    """Neither side of a stream-stream join criteria is a column: ksqlDB keys the result on a
    synthetic ROWKEY."""
    return not isinstance(le, ast.Column) and not isinstance(re_, ast.Column)


def _sides(j: JoinInfo) -> list[ast.Expr]:
    if j.foreign_key:
        return []
    return [j.left_key_expr, j.right_key_expr]


def join_keys(a: Analysis, sink: str | None, persistent: bool) -> list[ast.Expr]:
    """The key of a join's result: ROWKEY after a FULL OUTER join, the left table's primary key
    after a foreign-key join, otherwise any of the (equal) join expressions the SELECT names."""
    joins = [j for j in (a.join, *a.more_joins) if j is not None]
    last = joins[-1]
    if len(joins) == 1 and last.foreign_key:
        keys = [ast.Column(c.name, a.alias) for c in a.source.key_columns]
        _check_fk_keys(a, keys, a.source.name)
        return list(keys)
    candidates = _key_exprs(a)
    order = {s.source: i for i, s in reversed(list(enumerate(a.scope.slots)))}
    candidates.sort(
        key=lambda e: min((order.get(x, 99) for x in sources_of(e, a.scope)), default=99)
    )
    for c in candidates:
        if any(same_expr(p.expr, c) for p in a.projection):
            return [c]
    if not persistent:
        return []
    if last.synthetic_key:
        raise SqlStatementError(
            "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
            f"The query used to build `{sink}` must include the join expression "
            "ROWKEY in its projection (eg, SELECT ROWKEY...).\nROWKEY was added as a "
            "synthetic key column because the join criteria did not match any source "
            "column. This expression must be included in the projection and may be aliased."
        )
    names: list[str] = []
    for c in candidates:
        if not isinstance(c, ast.Column):
            continue  # ksqlDB names the column expressions only
        text = qualified_in(a.scope, c)
        if text not in names:
            names.append(text)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    plural = "s" if len(names) > 1 else ""
    raise SqlStatementError(
        f"The query used to build `{sink}` must include the join expression{plural} {listed} in its "
        f"projection (eg, SELECT {names[0]}...)."
    )


def check_all_criteria(query: ast.Query, scope: Scope, metastore: MetaStore) -> None:
    """Every join's criteria checked before anything else, as ksqlDB does."""
    for j in query.joins:
        rscope = source_scope(metastore.get(j.right.name), j.right.ref)
        if isinstance(j.on, ast.Binary) and j.on.op == "=":
            _check_criteria(j.on, scope, rscope)
        scope = scope.extend(rscope.slots)


def _check_criteria(on: ast.Binary, lscope: Scope, rscope: Scope) -> None:
    """ksqlDB's checks of a join criteria: each side one source, not the same one, and one of
    them the source being joined."""
    both = lscope.extend(rscope.slots)
    left, right = sources_of(on.left, both), sources_of(on.right, both)
    for side in (on.left, on.right):
        if len(sources_of(side, both)) != 1:
            raise SqlStatementError(
                f"Invalid comparison expression '{expression_text(side)}' in join "
                f"'{expression_text(on)}'. Each side of the join comparision must contain "
                "references from exactly one source."
            )
    (lsrc,), (rsrc,) = left, right
    if lsrc == rsrc:
        raise SqlStatementError(
            "Each side of the join must reference exactly one source and not the same source. "
            f"Left side references `{lsrc}` and right references `{rsrc}`"
        )
    joined = {s.source for s in rscope.slots if s.source}
    if not ({lsrc, rsrc} & joined):
        (name,) = joined or {"?"}
        raise SqlStatementError(
            f"A join criteria is expected to reference the source (`{name}`) in the FROM "
            f"clause, instead the right source references `{rsrc}` and the left source "
            f"references `{lsrc}`"
        )


def _join_sides(
    on: ast.Expr, lscope: Scope, rscope: Scope
) -> tuple[Compiled, ast.Expr, Compiled, ast.Expr]:
    if not (isinstance(on, ast.Binary) and on.op == "="):
        raise SqlStatementError(
            "Unsupported join expression: only an equality (a = b) is supported."
        )
    _check_criteria(on, lscope, rscope)
    sides: list[tuple[str, Compiled, ast.Expr]] = []
    for e in (on.left, on.right):
        try:
            sides.append(("L", ExpressionCompiler(lscope).compile(e), e))
        except SqlStatementError:
            sides.append(("R", ExpressionCompiler(rscope).compile(e), e))
    if sorted(x[0] for x in sides) != ["L", "R"]:
        raise SqlStatementError(
            "Invalid comparison expression in join: each side must come from one source: "
            f"{expression_text(on)}"
        )
    (lc, le), (rc, re_) = [(c, e) for side in ("L", "R") for t, c, e in sides if t == side]
    if lc.type != rc.type:
        raise SqlStatementError(
            f"Invalid join condition: types don't match. Got {expression_text(le)}{{{lc.type}}} = "
            f"{expression_text(re_)}{{{rc.type}}}."
        )
    return lc, le, rc, re_


def _stream_stream_join(
    j: ast.Join, left: DataSource, lalias: str, right: DataSource, ralias: str
) -> JoinInfo:
    if j.within is None:
        raise SqlStatementError(
            "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn "
            "about how to specify a WITHIN clause with a stream-stream join, please visit: "
            "https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select"
        )
    lscope, rscope = source_scope(left, lalias), source_scope(right, ralias)
    lc, le, rc, re_ = _join_sides(j.on, lscope, rscope)
    lkeys, rkeys = [c.name for c in left.key_columns], [c.name for c in right.key_columns]
    left_is_key = isinstance(le, ast.Column) and lkeys == [le.name]
    right_is_key = isinstance(re_, ast.Column) and rkeys == [re_.name]
    return JoinInfo(
        right,
        ralias,
        j.kind,
        lc,
        le,
        re_,
        left_is_key,
        len(rscope.slots),
        rc,
        right_is_key,
        j.within,
        j.grace_ms,
        j.kind == "FULL" or _no_column(le, re_),
    )
