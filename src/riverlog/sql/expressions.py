"""The binder/compiler of expressions: AST → (Python closure over a row tuple, SqlType).

A `Scope` names the slots of the row a closure reads (value columns, key columns, pseudo columns,
lambda parameters appended after them). Compilation checks names and types and fails with a
`SqlStatementError` pointing at the expression; evaluation follows ksqlDB's null rules (a NULL
operand gives NULL, comparisons with NULL are NULL, AND/OR are three-valued, WHERE treats NULL as
false) and Java's integer overflow and division.

Helpers (arithmetic, comparisons, LIKE, printing) live in riverlog.sql.expression_helpers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from riverlog.sql import ast
from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError, SqlTypeError
from riverlog.sql.expression_helpers import (
    _COMPARE,
    _arith,
    _common_type,
    _comparable_fn,
    _err,
    _like_regex,
    _wrapper,
    expression_text,
)
from riverlog.sql.functions import FUNCTIONS, LAMBDA_FUNCTIONS, cast_value

Row = Sequence[Any]
Fn = Callable[[Row], Any]


@dataclass(frozen=True)
class Slot:
    name: str
    type: T.SqlType
    source: str | None = None  # the relation alias the column belongs to
    hidden: bool = False  # pseudo columns: not expanded by `*`


class Scope:
    """The named slots of a row, in order; lookups by `NAME` or `SOURCE.NAME`."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)

    def extend(self, extra: Sequence[Slot]) -> Scope:
        return Scope(self.slots + list(extra))

    def find(self, col: ast.Column) -> tuple[int, Slot]:
        matches = [
            (i, s)
            for i, s in enumerate(self.slots)
            if s.name == col.name and (col.source is None or s.source == col.source)
        ]
        # lambda parameters shadow columns: the last match wins when it is a lambda slot
        if matches and matches[-1][1].source == "<lambda>":
            return matches[-1]
        if not matches:
            shown = f"{col.source}.{col.name}" if col.source else col.name
            raise SqlStatementError(
                f"Line: {col.line}, Col: {col.column}: Column '{shown}' cannot be resolved.",
                col.line,
                col.column,
            )
        if len(matches) > 1:
            raise SqlStatementError(
                f"Line: {col.line}, Col: {col.column}: Column '{col.name}' is ambiguous. "
                f"Could be any of: " + ", ".join(f"{s.source}.{s.name}" for _, s in matches),
                col.line,
                col.column,
            )
        return matches[0]


@dataclass(frozen=True)
class Compiled:
    fn: Fn
    type: T.SqlType


class ExpressionCompiler:
    """Compiles expressions against one scope (aggregate calls are resolved by the planner first)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def compile(self, e: ast.Expr) -> Compiled:
        method = getattr(self, "_" + type(e).__name__.lower())
        result: Compiled = method(e)
        return result

    def predicate(self, e: ast.Expr) -> Fn:
        c = self.compile(e)
        if c.type.base not in ("BOOLEAN", "NULL"):
            raise _err(
                e, f"Type error in WHERE expression: Should evaluate to boolean but is {c.type}."
            )
        fn = c.fn
        return lambda row: fn(row) is True

    # -- leaves ----------------------------------------------------------------------------
    def _literal(self, e: ast.Literal) -> Compiled:
        v = e.value
        t = T.type_of_literal(e)
        if t.base == "DECIMAL" and isinstance(v, Decimal):
            pass
        return Compiled(lambda _row: v, t)

    def _column(self, e: ast.Column) -> Compiled:
        i, slot = self.scope.find(e)
        return Compiled(operator.itemgetter(i), slot.type)

    # -- operators -------------------------------------------------------------------------
    def _binary(self, e: ast.Binary) -> Compiled:
        if e.op in ("AND", "OR"):
            return self._logical(e)
        left, right = self.compile(e.left), self.compile(e.right)
        if e.op in ("=", "<>", "<", "<=", ">", ">="):
            return self._comparison(e, left, right)
        if e.op == "||" or (
            e.op == "+" and left.type.base == "STRING" and right.type.base in ("STRING", "NULL")
        ):
            lf, rf = left.fn, right.fn

            def concat(row: Row) -> Any:
                a, b = lf(row), rf(row)
                return None if a is None or b is None else a + b

            return Compiled(concat, T.STRING)
        try:
            t = T.widest(left.type, right.type)
        except SqlTypeError:
            raise _err(
                e,
                f"Error processing expression: Unsupported arithmetic types. "
                f"{left.type} {right.type}",
            ) from None
        return Compiled(_arith(e.op, t, left, right), t)

    def _logical(self, e: ast.Binary) -> Compiled:
        left, right = self.compile(e.left), self.compile(e.right)
        for side, c in ((e.left, left), (e.right, right)):
            if c.type.base not in ("BOOLEAN", "NULL"):
                raise _err(side, f"{e.op} operand must be BOOLEAN, got {c.type}")
        lf, rf = left.fn, right.fn
        if e.op == "AND":

            def and_(row: Row) -> Any:
                a = lf(row)
                if a is False:
                    return False
                b = rf(row)
                if b is False:
                    return False
                return None if a is None or b is None else True

            return Compiled(and_, T.BOOLEAN)

        def or_(row: Row) -> Any:
            a = lf(row)
            if a is True:
                return True
            b = rf(row)
            if b is True:
                return True
            return None if a is None or b is None else False

        return Compiled(or_, T.BOOLEAN)

    def _comparison(self, e: ast.Binary, left: Compiled, right: Compiled) -> Compiled:
        if not T.comparable(left.type, right.type):
            raise _err(
                e,
                f"Cannot compare {e.left} ({left.type}) to {e.right} ({right.type}) with "
                f"{'EQUAL' if e.op == '=' else e.op}.",
            )
        lf, rf = _comparable_fn(left, right.type), _comparable_fn(right, left.type)
        op = _COMPARE[e.op]

        def compare(row: Row) -> Any:
            a, b = lf(row), rf(row)
            if a is None or b is None:
                return None
            return op(a, b)

        return Compiled(compare, T.BOOLEAN)

    def _unary(self, e: ast.Unary) -> Compiled:
        c = self.compile(e.operand)
        f = c.fn
        if e.op == "NOT":
            if c.type.base not in ("BOOLEAN", "NULL"):
                raise _err(e, f"NOT operand must be BOOLEAN, got {c.type}")
            return Compiled(lambda row: None if (v := f(row)) is None else not v, T.BOOLEAN)
        if not c.type.numeric:
            raise _err(e, f"Unary {e.op} needs a number, got {c.type}")
        if e.op == "+":
            return c
        wrap = _wrapper(c.type)
        return Compiled(lambda row: None if (v := f(row)) is None else wrap(-v), c.type)

    def _between(self, e: ast.Between) -> Compiled:
        v, lo, hi = self.compile(e.value), self.compile(e.low), self.compile(e.high)
        vf = _comparable_fn(v, lo.type)
        lof, hif = _comparable_fn(lo, v.type), _comparable_fn(hi, v.type)
        neg = e.negated

        def between(row: Row) -> Any:
            x, a, b = vf(row), lof(row), hif(row)
            if x is None or a is None or b is None:
                return None
            return (a <= x <= b) != neg

        return Compiled(between, T.BOOLEAN)

    def _inlist(self, e: ast.InList) -> Compiled:
        v = self.compile(e.value)
        items = [self.compile(i) for i in e.items]
        for item, node in zip(items, e.items, strict=True):
            if not T.comparable(v.type, item.type):
                raise _err(node, f"invalid input syntax for type {v.type}: {node}")
        vf = v.fn
        fns = [_comparable_fn(i, v.type) for i in items]
        neg = e.negated

        def in_list(row: Row) -> Any:
            x = vf(row)
            if x is None:
                return None
            values = [f(row) for f in fns]
            if x in values:
                return not neg
            return None if None in values else neg

        return Compiled(in_list, T.BOOLEAN)

    def _like(self, e: ast.Like) -> Compiled:
        v, p = self.compile(e.value), self.compile(e.pattern)
        if v.type.base not in ("STRING", "NULL") or p.type.base not in ("STRING", "NULL"):
            raise _err(e, "LIKE requires STRING operands")
        vf, pf = v.fn, p.fn
        escape, neg = e.escape, e.negated
        cache: dict[str, re.Pattern[str]] = {}

        def like(row: Row) -> Any:
            x, pat = vf(row), pf(row)
            if x is None or pat is None:
                return None
            rx = cache.get(pat)
            if rx is None:
                rx = cache[pat] = _like_regex(pat, escape)
            return (rx.fullmatch(x) is not None) != neg

        return Compiled(like, T.BOOLEAN)

    def _isnull(self, e: ast.IsNull) -> Compiled:
        f = self.compile(e.value).fn
        if e.negated:
            return Compiled(lambda row: f(row) is not None, T.BOOLEAN)
        return Compiled(lambda row: f(row) is None, T.BOOLEAN)

    def _isdistinct(self, e: ast.IsDistinct) -> Compiled:
        lf, rf = self.compile(e.left).fn, self.compile(e.right).fn
        neg = e.negated
        return Compiled(lambda row: (lf(row) != rf(row)) != neg, T.BOOLEAN)

    def _cast(self, e: ast.Cast) -> Compiled:
        c = self.compile(e.value)
        target = T.resolve(e.type)
        f, source = c.fn, c.type

        def cast(row: Row) -> Any:
            return cast_value(f(row), source, target)

        return Compiled(cast, target)

    def _case(self, e: ast.Case) -> Compiled:
        operand = self.compile(e.operand) if e.operand is not None else None
        whens = [(self.compile(c), self.compile(r)) for c, r in e.whens]
        default = self.compile(e.default) if e.default is not None else None
        results = [r.type for _, r in whens] + ([default.type] if default else [])
        t = _common_type(e, results)
        pairs = [(c.fn, r.fn) for c, r in whens]
        dflt = default.fn if default else (lambda _row: None)
        if operand is not None:
            of = operand.fn

            def simple(row: Row) -> Any:
                x = of(row)
                for cf, rf in pairs:
                    if x is not None and x == cf(row):
                        return rf(row)
                return dflt(row)

            return Compiled(simple, t)

        def searched(row: Row) -> Any:
            for cf, rf in pairs:
                if cf(row) is True:
                    return rf(row)
            return dflt(row)

        return Compiled(searched, t)

    def _arrayctor(self, e: ast.ArrayCtor) -> Compiled:
        items = [self.compile(i) for i in e.items]
        t = _common_type(e, [i.type for i in items]) if items else T.NULL
        fns = [i.fn for i in items]
        return Compiled(lambda row: [f(row) for f in fns], T.array(t))

    def _mapctor(self, e: ast.MapCtor) -> Compiled:
        keys = [self.compile(k) for k, _ in e.entries]
        vals = [self.compile(v) for _, v in e.entries]
        kt = _common_type(e, [k.type for k in keys]) if keys else T.STRING
        vt = _common_type(e, [v.type for v in vals]) if vals else T.NULL
        pairs = [(k.fn, v.fn) for k, v in zip(keys, vals, strict=True)]
        return Compiled(lambda row: {kf(row): vf(row) for kf, vf in pairs}, T.map_of(kt, vt))

    def _structctor(self, e: ast.StructCtor) -> Compiled:
        fields = [(n, self.compile(v)) for n, v in e.fields]
        t = T.SqlType("STRUCT", fields=tuple((n, c.type) for n, c in fields))
        fns = [(n, c.fn) for n, c in fields]
        return Compiled(lambda row: {n: f(row) for n, f in fns}, t)

    def _subscript(self, e: ast.Subscript) -> Compiled:
        base, index = self.compile(e.base), self.compile(e.index)
        bf, idxf = base.fn, index.fn
        if base.type.base == "ARRAY":

            def array_index(row: Row) -> Any:
                a, i = bf(row), idxf(row)
                if a is None or i is None:
                    return None
                # ksqlDB arrays are 1-based; negative indexes count from the end
                if i > 0 and i <= len(a):
                    return a[i - 1]
                if i < 0 and -i <= len(a):
                    return a[i]
                return None

            return Compiled(array_index, base.type.items[0])
        if base.type.base == "MAP":

            def map_lookup(row: Row) -> Any:
                m, k = bf(row), idxf(row)
                return None if m is None or k is None else m.get(k)

            return Compiled(map_lookup, base.type.items[1])
        raise _err(e, f"Subscript expression requires an ARRAY or MAP, got {base.type}")

    def _dereference(self, e: ast.Dereference) -> Compiled:
        base = self.compile(e.base)
        if base.type.base != "STRUCT":
            raise _err(e, f"Can't dereference a field of {base.type}")
        ft = base.type.field(e.field_name)
        if ft is None:
            raise _err(e, f"Could not find field '{e.field_name}' in '{e.base}'.")
        bf, name = base.fn, e.field_name
        return Compiled(lambda row: None if (s := bf(row)) is None else s.get(name), ft)

    def _lambda(self, e: ast.Lambda) -> Compiled:
        raise _err(e, "A lambda is only allowed as an argument of TRANSFORM, FILTER or REDUCE")

    # -- functions -------------------------------------------------------------------------
    def _call(self, e: ast.Call) -> Compiled:
        if e.name in LAMBDA_FUNCTIONS:
            return self._lambda_call(e)
        f = FUNCTIONS.get(e.name)
        if f is None:
            raise _err(e, f"Can't find any functions with the name '{e.name}'")
        args = [self.compile(a) for a in e.args]
        arg_types = [a.type for a in args]
        try:
            rt = f.returns(arg_types)
        except SqlTypeError as ex:
            raise _err(
                e,
                f"Function '{e.name}' does not accept parameters ({', '.join(map(str, arg_types))}): {ex}",
            ) from None
        fns = [a.fn for a in args]
        impl = f.bind(arg_types)
        if f.null_propagates and len(fns) == 1:
            (g0,) = fns

            def call_strict1(row: Row) -> Any:  # the common one-argument case, no list
                v = g0(row)
                return None if v is None else impl(v)

            return Compiled(call_strict1, rt)
        if f.null_propagates:

            def call_strict(row: Row) -> Any:
                values = [g(row) for g in fns]
                if None in values:
                    return None
                return impl(*values)

            return Compiled(call_strict, rt)
        return Compiled(lambda row: impl(*[g(row) for g in fns]), rt)

    def _lambda_call(self, e: ast.Call) -> Compiled:
        name = e.name
        if not e.args:
            raise _err(e, f"{name} needs arguments")
        coll = self.compile(e.args[0])
        base = len(self.scope.slots)
        if coll.type.base not in ("ARRAY", "MAP", "NULL"):
            raise _err(e, f"{name} expects an ARRAY or MAP, got {coll.type}")

        def body(lam: ast.Expr, params_types: list[T.SqlType]) -> Compiled:
            if not isinstance(lam, ast.Lambda):
                raise _err(lam, f"{name} expects a lambda here")
            if len(lam.params) != len(params_types):
                raise _err(
                    lam,
                    f"Was expecting {len(params_types)} arguments to lambda function but got {len(lam.params)}",
                )
            inner = self.scope.extend(
                [Slot(p, t, "<lambda>") for p, t in zip(lam.params, params_types, strict=True)]
            )
            return ExpressionCompiler(inner).compile(lam.body)

        cf = coll.fn
        if coll.type.base == "MAP":
            kt, vt = coll.type.items
            if name == "TRANSFORM" and len(e.args) == 3:
                kb, vb = body(e.args[1], [kt, vt]), body(e.args[2], [kt, vt])

                def tmap(row: Row) -> Any:
                    m = cf(row)
                    if m is None:
                        return None
                    r = tuple(row)
                    return {kb.fn((*r, k, v)): vb.fn((*r, k, v)) for k, v in m.items()}

                return Compiled(tmap, T.map_of(kb.type, vb.type))
            if name == "FILTER" and len(e.args) == 2:
                pb = body(e.args[1], [kt, vt])

                def fmap(row: Row) -> Any:
                    m = cf(row)
                    if m is None:
                        return None
                    r = tuple(row)
                    return {k: v for k, v in m.items() if pb.fn((*r, k, v)) is True}

                return Compiled(fmap, coll.type)
            if name == "REDUCE" and len(e.args) == 3:
                init = self.compile(e.args[1])
                rb = body(e.args[2], [init.type, kt, vt])

                def rmap(row: Row) -> Any:
                    m = cf(row)
                    if m is None:
                        return None
                    r, acc = tuple(row), init.fn(row)
                    for k, v in m.items():
                        acc = rb.fn((*r, acc, k, v))
                    return acc

                return Compiled(rmap, init.type)
        item_t = coll.type.items[0] if coll.type.base == "ARRAY" else T.NULL
        if name == "TRANSFORM" and len(e.args) == 2:
            tb = body(e.args[1], [item_t])

            def tarr(row: Row) -> Any:
                a = cf(row)
                if a is None:
                    return None
                r = tuple(row)
                return [tb.fn((*r, x)) for x in a]

            return Compiled(tarr, T.array(tb.type))
        if name == "FILTER" and len(e.args) == 2:
            pb = body(e.args[1], [item_t])

            def farr(row: Row) -> Any:
                a = cf(row)
                if a is None:
                    return None
                r = tuple(row)
                return [x for x in a if pb.fn((*r, x)) is True]

            return Compiled(farr, coll.type)
        if name == "REDUCE" and len(e.args) == 3:
            init = self.compile(e.args[1])
            rb = body(e.args[2], [init.type, item_t])

            def rarr(row: Row) -> Any:
                a = cf(row)
                if a is None:
                    return None
                r, acc = tuple(row), init.fn(row)
                for x in a:
                    acc = rb.fn((*r, acc, x))
                return acc

            return Compiled(rarr, init.type)
        del base
        raise _err(e, f"Invalid arguments for {name}")


__all__ = ["Compiled", "ExpressionCompiler", "Fn", "Row", "Scope", "Slot", "expression_text"]
