"""Helpers of the expression compiler: comparisons across numeric types, Java-style arithmetic
(integer overflow wraps, `/` truncates, division by zero is NULL), the common type of CASE/IN/array
items, LIKE patterns as regexes, and expressions printed as ksqlDB prints them in messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import TYPE_CHECKING, Any

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError, SqlTypeError
from riverlog.sql.functions import cast_value

if TYPE_CHECKING:
    from riverlog.sql.expressions import Compiled, Fn, Row


def _err(node: ast.Node, message: str) -> SqlStatementError:
    return SqlTypeError(f"Line: {node.line}, Col: {node.column}: {message}", node.line, node.column)


# ---- helpers -----------------------------------------------------------------------------

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparable_fn(c: Compiled, other: T.SqlType) -> Fn:
    """Comparing a TIMESTAMP with a STRING parses the string, as ksqlDB does."""
    if c.type.base == "STRING" and other.base in ("TIMESTAMP", "DATE", "TIME"):
        f = c.fn
        target = other
        return lambda row: cast_value(f(row), T.STRING, target)
    if c.type.base == "DECIMAL" and other.base == "DOUBLE":
        g = c.fn
        return lambda row: None if (v := g(row)) is None else float(v)
    return c.fn


def _wrapper(t: T.SqlType) -> Callable[[Any], Any]:
    if t.base == "INTEGER":
        return T.wrap_int
    if t.base == "BIGINT":
        return T.wrap_long
    return lambda v: v


def _arith(op: str, t: T.SqlType, left: Compiled, right: Compiled) -> Fn:
    lf, rf = left.fn, right.fn
    wrap = _wrapper(t)
    to_dec = t.base == "DECIMAL"
    to_float = t.base == "DOUBLE"

    def conv(v: Any) -> Any:
        if to_dec and not isinstance(v, Decimal):
            return Decimal(v)
        if to_float:
            return float(v)
        return v

    integral = t.base in ("INTEGER", "BIGINT")

    def apply(row: Row) -> Any:
        a, b = lf(row), rf(row)
        if a is None or b is None:
            return None
        a, b = conv(a), conv(b)
        try:
            if op == "+":
                r = a + b
            elif op == "-":
                r = a - b
            elif op == "*":
                r = a * b
            elif op == "/":
                if integral:
                    if b == 0:
                        return None
                    q = abs(a) // abs(b)
                    r = q if (a >= 0) == (b >= 0) else -q
                elif to_float and b == 0:
                    if a == 0:
                        return float("nan")
                    return float("inf") if a > 0 else float("-inf")
                else:
                    r = a / b
            else:  # %
                if b == 0:
                    return None if integral or to_dec else float("nan")
                if integral:
                    r = abs(a) % abs(b)
                    r = r if a >= 0 else -r
                else:
                    import math

                    r = math.fmod(a, b) if to_float else a % b
        except (DivisionByZero, InvalidOperation, ZeroDivisionError):
            return None
        if to_dec:
            return r.quantize(Decimal(1).scaleb(-t.scale)) if op != "/" else r
        return wrap(r)

    return apply


def _common_type(node: ast.Node, ts: Sequence[T.SqlType]) -> T.SqlType:
    real = [t for t in ts if t.base != "NULL"]
    if not real:
        return T.NULL
    first = real[0]
    for t in real[1:]:
        if t == first:
            continue
        if t.numeric and first.numeric:
            first = T.widest(first, t)
            continue
        raise _err(
            node,
            f"Invalid Case expression. Type for all 'THEN' clauses should be the same. "
            f"THEN expression '{t}' has type: {t}. Previous THEN expression(s) type: {first}.",
        )
    return first


def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def expression_text(e: ast.Expr) -> str:
    """ksqlDB's formatting of an expression (used in error messages and derived names)."""
    if isinstance(e, ast.Column):
        return f"{e.source}.{e.name}" if e.source else e.name
    if isinstance(e, ast.Literal):
        if e.kind == "string":
            return "'" + str(e.value).replace("'", "''") + "'"
        if e.kind == "null":
            return "null"
        if e.kind == "boolean":
            return "true" if e.value else "false"
        return str(e.value)
    if isinstance(e, ast.Call):
        if e.star:
            return f"{e.name}(*)"
        return f"{e.name}(" + ", ".join(expression_text(a) for a in e.args) + ")"
    if isinstance(e, ast.Binary):
        return f"({expression_text(e.left)} {e.op} {expression_text(e.right)})"
    if isinstance(e, ast.Dereference):
        return f"{expression_text(e.base)}->{e.field_name}"
    if isinstance(e, ast.Cast):
        return f"CAST({expression_text(e.value)} AS {T.resolve(e.type)})"
    return type(e).__name__.upper()
