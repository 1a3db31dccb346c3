"""Name scopes of a query's rows and the expression helpers binding uses: a source's slots
(key, value and header columns, then the pseudo columns), rebuilding expressions, the sources an
expression reads, and expressions printed the way ksqlDB's errors print them."""

from __future__ import annotations

import dataclasses
from typing import Any

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.expressions import Scope, Slot, expression_text
from riverlog.sql.metastore import DataSource


def source_scope(source: DataSource, alias: str) -> Scope:
    slots = [Slot(c.name, c.type, alias) for c in source.key_columns]
    slots += [Slot(c.name, c.type, alias) for c in source.value_columns]
    slots += [Slot(c.name, c.type, alias) for c in source.header_columns]
    slots += [
        Slot("ROWTIME", T.BIGINT, alias, True),
        Slot("ROWPARTITION", T.INTEGER, alias, True),
        Slot("ROWOFFSET", T.BIGINT, alias, True),
    ]
    if source.window is not None:
        slots += [
            Slot("WINDOWSTART", T.BIGINT, alias, True),
            Slot("WINDOWEND", T.BIGINT, alias, True),
        ]
    return Scope(slots)


def map_children(e: ast.Expr, fn: Any) -> ast.Expr:
    """Rebuild `e` with `fn` applied to each child expression."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(e):
        if f.name in ("line", "column"):
            continue
        v = getattr(e, f.name)
        changes[f.name] = _map_value(v, fn)
    return dataclasses.replace(e, **changes)


def _map_value(v: Any, fn: Any) -> Any:
    if isinstance(v, ast.Node) and not isinstance(v, ast.Lambda):
        return fn(v)
    if isinstance(v, ast.Lambda):
        return dataclasses.replace(v, body=fn(v.body))
    if isinstance(v, tuple):
        return tuple(_map_value(x, fn) for x in v)
    return v


def qualified(e: ast.Expr, alias: str) -> str:
    """An expression as ksqlDB prints it in join errors: columns qualified by their source."""

    def qualify(x: ast.Node) -> ast.Node:
        if isinstance(x, ast.Column) and x.source is None:
            return dataclasses.replace(x, source=alias)
        return map_children(x, qualify)  # type: ignore[arg-type]

    return expression_text(qualify(e))  # type: ignore[arg-type]


def qualified_in(scope: Scope, e: ast.Expr) -> str:
    """`e` with each unqualified column qualified by the source the scope finds it in."""

    def qualify(x: ast.Node) -> ast.Node:
        if isinstance(x, ast.Column) and x.source is None:
            try:
                _, slot = scope.find(x)
            except SqlStatementError:
                return x
            return dataclasses.replace(x, source=slot.source)
        return map_children(x, qualify)  # type: ignore[arg-type]

    return expression_text(qualify(e))  # type: ignore[arg-type]


def sources_of(e: ast.Expr, scope: Scope) -> set[str]:
    """The sources (aliases) the columns of `e` come from."""
    found: set[str] = set()

    def visit(x: ast.Node) -> ast.Node:
        if isinstance(x, ast.Column):
            if x.source is not None:
                found.add(x.source)
            else:
                srcs = {s.source for s in scope.slots if s.name == x.name and s.source}
                if len(srcs) == 1:
                    found.update(srcs)  # type: ignore[arg-type]
            return x
        return map_children(x, visit)  # type: ignore[arg-type]

    visit(e)
    return found


def same_expr(a: ast.Expr, b: ast.Expr) -> bool:
    """Equal expressions, ignoring a qualifier on a column (`S.ID` = `ID`)."""
    if isinstance(a, ast.Column) and isinstance(b, ast.Column):
        return a.name == b.name and (a.source is None or b.source is None or a.source == b.source)
    return a == b
