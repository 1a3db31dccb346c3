"""Parse ksqlDB SQL text into `riverlog.sql.ast` statements.

`parse(text, variables)` substitutes `${name}` variables (as ksqlDB's DEFINE does, strings included),
splits nothing by hand — the grammar takes a whole script — and returns one AST statement per
statement, each with its own text. A syntax error raises `SqlSyntaxError` with ksqlDB's
`line L:C: ...` prefix, the offending token and what was expected there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lark import Lark, Token, v_args
from lark import exceptions as lark_errors

from riverlog.sql import ast
from riverlog.sql.errors import SqlSyntaxError
from riverlog.sql.grammar import full_grammar
from riverlog.sql.parser_statements import StatementBuilder, _is, _unquote

_lock = threading.Lock()
_parser: Lark | None = None

_UNITS_MS = {
    "MILLISECOND": 1,
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
}

# How the expected terminals are shown in error messages.
_PUNCT = {
    "COMMA": "','",
    "LPAR": "'('",
    "RPAR": "')'",
    "SEMICOLON": "';'",
    "DOT": "'.'",
    "EQ": "'='",
    "LSQB": "'['",
    "RSQB": "']'",
    "ASTERISK": "'*'",
    "LESSTHAN": "'<'",
    "MORETHAN": "'>'",
    "ADD_OP": "'+'",
    "MUL_OP": "'*'",
}


def _lark() -> Lark:
    global _parser
    with _lock:
        if _parser is None:
            _parser = Lark(
                full_grammar(),
                parser="lalr",
                lexer="contextual",
                propagate_positions=True,
                cache=True,
            )
        return _parser


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Replace `${name}` with the variable's value (names are case-insensitive, as ksqlDB's)."""
    if not variables or "${" not in text:
        return text
    upper = {k.upper(): v for k, v in variables.items()}

    def repl(m: re.Match[str]) -> str:
        return upper.get(m.group(1).upper(), m.group(0))

    return _VARIABLE.sub(repl, text)


def parse(text: str, variables: Mapping[str, str] | None = None) -> list[ast.Statement]:
    """Parse a script (one or more `;`-terminated statements)."""
    text = substitute(text, variables or {})
    try:
        tree = _lark().parse(text)
    except lark_errors.UnexpectedInput as e:
        raise _syntax_error(text, e) from None
    return _Builder(text).transform(tree)  # type: ignore[no-any-return]


def parse_type(text: str) -> ast.TypeRef:
    """A type as written (`BIGINT`, `ARRAY<STRING>`, `DECIMAL(4, 2)`), through a CAST."""
    stmt = parse_one(f"SELECT CAST(NULL AS {text}) FROM X;")
    assert isinstance(stmt, ast.QueryStatement)
    cast = stmt.query.select[0].expr
    assert isinstance(cast, ast.Cast)
    return cast.type


def parse_one(text: str, variables: Mapping[str, str] | None = None) -> ast.Statement:
    statements = parse(text, variables)
    if len(statements) != 1:
        raise SqlSyntaxError(f"Expected exactly one statement, got {len(statements)}", 1, 1, "")
    return statements[0]


def _syntax_error(text: str, e: lark_errors.UnexpectedInput) -> SqlSyntaxError:
    line, column = e.line, e.column
    if isinstance(e, lark_errors.UnexpectedToken):
        tok = e.token
        offending = "<EOF>" if tok.type == "$END" else str(tok)
        expected = sorted(_PUNCT.get(t, f"'{t}'" if t.isupper() else t) for t in e.expected)
        if tok.type == "$END":
            lines = text.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        msg = f"mismatched input '{offending}' expecting {{{', '.join(expected)}}}"
    elif isinstance(e, lark_errors.UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        offending = text[pos] if pos < len(text) else "<EOF>"
        msg = f"token recognition error at: '{offending}'"
    else:
        offending = "<EOF>"
        msg = "unexpected end of input"
    return SqlSyntaxError(f"line {line}:{column}: Syntax Error\n{msg}", line, column, offending)


def _ident_text(tok: Token) -> str:
    return str(tok)


def _props(tree: Any) -> dict[str, object]:
    return tree if isinstance(tree, dict) else {}


@v_args(inline=True)
class _Builder(StatementBuilder):
    """Lark tree → AST. Keyword tokens are kept by the grammar where they carry meaning."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    # -- names -----------------------------------------------------------------------------
    def ident(self, tok: Token) -> str:
        return str(tok).upper()

    def quoted_ident(self, tok: Token) -> str:
        return _unquote(str(tok), '"')

    def backquoted_ident(self, tok: Token) -> str:
        return _unquote(str(tok), "`")

    def source_name(self, name: str) -> str:
        return name

    # -- literals --------------------------------------------------------------------------
    def null(self, tok: Token) -> ast.Literal:
        return ast.Literal(None, "null", line=tok.line or 0, column=tok.column or 0)

    def true(self, tok: Token) -> ast.Literal:
        return ast.Literal(True, "boolean", line=tok.line or 0, column=tok.column or 0)

    def false(self, tok: Token) -> ast.Literal:
        return ast.Literal(False, "boolean", line=tok.line or 0, column=tok.column or 0)

    def integer(self, tok: Token) -> ast.Literal:
        return ast.Literal(int(tok), "integer", line=tok.line or 0, column=tok.column or 0)

    def decimal(self, tok: Token) -> ast.Literal:
        return ast.Literal(Decimal(str(tok)), "decimal", line=tok.line or 0, column=tok.column or 0)

    def floating(self, tok: Token) -> ast.Literal:
        return ast.Literal(float(tok), "double", line=tok.line or 0, column=tok.column or 0)

    def string(self, tok: Token) -> ast.Literal:
        return ast.Literal(
            _unquote(str(tok), "'"), "string", line=tok.line or 0, column=tok.column or 0
        )

    def variable(self, tok: Token) -> ast.Literal:
        raise SqlSyntaxError(
            f"line {tok.line}:{tok.column}: Undefined variable: {tok}",
            tok.line or 0,
            tok.column or 0,
            str(tok),
        )

    # -- expressions -----------------------------------------------------------------------
    @v_args(meta=True, inline=True)
    def qualified_column(self, meta: Any, a: str, b: str | None = None) -> ast.Column:
        if b is None:
            return ast.Column(a, line=meta.line, column=meta.column)
        return ast.Column(b, a, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def function_call(self, meta: Any, children: list[Any]) -> ast.Call:
        name, *args = children
        return ast.Call(name, tuple(args), line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def function_star(self, meta: Any, name: str, _star: Token) -> ast.Call:
        return ast.Call(name, (), True, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def lambda_expr(self, meta: Any, children: list[Any]) -> ast.Lambda:
        *params, body = children
        return ast.Lambda(tuple(params), body, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def or_(self, meta: Any, left: ast.Expr, _op: Token, right: ast.Expr) -> ast.Binary:
        return ast.Binary("OR", left, right, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def and_(self, meta: Any, left: ast.Expr, _op: Token, right: ast.Expr) -> ast.Binary:
        return ast.Binary("AND", left, right, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def not_(self, meta: Any, _op: Token, operand: ast.Expr) -> ast.Unary:
        return ast.Unary("NOT", operand, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def comparison(self, meta: Any, left: ast.Expr, op: str, right: ast.Expr) -> ast.Binary:
        op = "<>" if op == "!=" else op
        return ast.Binary(op, left, right, line=meta.line, column=meta.column)

    def comparison_operator(self, tok: Token) -> str:
        return str(tok)

    @v_args(meta=True, inline=False)
    def between(self, meta: Any, c: list[Any]) -> ast.Between:
        negated = _is(c[1], "NOT")
        exprs = [x for x in c if not isinstance(x, Token)]
        value, low, high = exprs
        return ast.Between(value, low, high, negated, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def in_list(self, meta: Any, c: list[Any]) -> ast.InList:
        negated = _is(c[1], "NOT")
        exprs = [x for x in c if not isinstance(x, Token)]
        return ast.InList(exprs[0], tuple(exprs[1:]), negated, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def like(self, meta: Any, c: list[Any]) -> ast.Like:
        negated = _is(c[1], "NOT")
        escape = next((_unquote(str(x), "'") for x in c if _is(x, "STRING")), None)
        exprs = [x for x in c if not isinstance(x, Token)]
        return ast.Like(exprs[0], exprs[1], escape, negated, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def is_null(self, meta: Any, c: list[Any]) -> ast.IsNull:
        negated = any(_is(x, "NOT") for x in c)
        return ast.IsNull(c[0], negated, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def is_distinct(self, meta: Any, c: list[Any]) -> ast.IsDistinct:
        negated = any(_is(x, "NOT") for x in c)
        exprs = [x for x in c if not isinstance(x, Token)]
        return ast.IsDistinct(exprs[0], exprs[1], negated, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def concat(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("||", left, right, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def arith(self, meta: Any, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Expr:
        return ast.Binary(str(op), left, right, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def unary_op(self, meta: Any, op: Token, operand: ast.Expr) -> ast.Expr:
        if str(op) == "-" and isinstance(operand, ast.Literal) and operand.kind != "string":
            v = operand.value
            if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
                return ast.Literal(-v, operand.kind, line=meta.line, column=meta.column)
        return ast.Unary(str(op), operand, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def subscript(self, meta: Any, base: ast.Expr, index: ast.Expr) -> ast.Subscript:
        return ast.Subscript(base, index, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def dereference(self, meta: Any, base: ast.Expr, name: str) -> ast.Dereference:
        return ast.Dereference(base, name, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=True)
    def cast(self, meta: Any, _c: Token, value: ast.Expr, _as: Token, t: ast.TypeRef) -> ast.Cast:
        return ast.Cast(value, t, line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def array_ctor(self, meta: Any, c: list[Any]) -> ast.ArrayCtor:
        return ast.ArrayCtor(tuple(c[1:]), line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def map_ctor(self, meta: Any, c: list[Any]) -> ast.MapCtor:
        return ast.MapCtor(tuple(c[1:]), line=meta.line, column=meta.column)

    @v_args(meta=True, inline=False)
    def struct_ctor(self, meta: Any, c: list[Any]) -> ast.StructCtor:
        return ast.StructCtor(tuple(c[1:]), line=meta.line, column=meta.column)

    def map_entry(self, k: ast.Expr, v: ast.Expr) -> tuple[ast.Expr, ast.Expr]:
        return (k, v)

    def struct_field(self, name: str, v: ast.Expr) -> tuple[str, ast.Expr]:
        return (name, v)

    def when_clause(self, _w: Token, cond: ast.Expr, _t: Token, result: ast.Expr) -> Any:
        return ("WHEN", cond, result)

    def else_clause(self, _e: Token, result: ast.Expr) -> Any:
        return ("ELSE", result)

    @v_args(meta=True, inline=False)
    def simple_case(self, meta: Any, c: list[Any]) -> ast.Case:
        return self._case(meta, c[1], c[2:-1])

    @v_args(meta=True, inline=False)
    def searched_case(self, meta: Any, c: list[Any]) -> ast.Case:
        return self._case(meta, None, c[1:-1])

    def _case(self, meta: Any, operand: ast.Expr | None, parts: list[Any]) -> ast.Case:
        whens = tuple((p[1], p[2]) for p in parts if p[0] == "WHEN")
        default = next((p[1] for p in parts if p[0] == "ELSE"), None)
        return ast.Case(operand, whens, default, line=meta.line, column=meta.column)

    # -- types -----------------------------------------------------------------------------
    def array_type(self, _a: Token, item: ast.TypeRef) -> ast.TypeRef:
        return ast.TypeRef("ARRAY", items=(item,))

    def map_type(self, _m: Token, k: ast.TypeRef, v: ast.TypeRef) -> ast.TypeRef:
        return ast.TypeRef("MAP", items=(k, v))

    @v_args(inline=False)
    def struct_type(self, c: list[Any]) -> ast.TypeRef:
        return ast.TypeRef("STRUCT", fields=tuple(c[1:]))

    def struct_type_field(self, name: str, t: ast.TypeRef) -> tuple[str, ast.TypeRef]:
        return (name, t)

    @v_args(inline=False)
    def base_type(self, c: list[Any]) -> ast.TypeRef:
        return ast.TypeRef(c[0], tuple(int(x) for x in c[1:]))

    # -- query -----------------------------------------------------------------------------
    @v_args(inline=False)
    def query(self, c: list[Any]) -> ast.Query:
        items = [x for x in c if isinstance(x, ast.SelectItem)]
        relation = next(x for x in c if isinstance(x, tuple) and x and x[0] == "RELATION")
        parts: dict[str, Any] = {x[0]: x[1] for x in c if isinstance(x, tuple) and x}
        return ast.Query(
            select=tuple(items),
            source=relation[1],
            joins=relation[2],
            window=parts.get("WINDOW"),
            where=parts.get("WHERE"),
            group_by=parts.get("GROUP", ()),
            partition_by=parts.get("PARTITION", ()),
            having=parts.get("HAVING"),
            emit=parts.get("EMIT"),
            limit=parts.get("LIMIT"),
        )

    def select_single(self, expr: ast.Expr, *rest: Any) -> ast.SelectItem:
        alias = next((x for x in rest if isinstance(x, str) and not isinstance(x, Token)), None)
        return ast.SelectItem(expr, alias)

    def select_all_of(self, name: str, _star: Token) -> ast.SelectItem:
        return ast.SelectItem(None, all_of=name)

    def select_all(self, _star: Token) -> ast.SelectItem:
        return ast.SelectItem(None)

    def window_clause(self, _w: Token, spec: ast.WindowSpec) -> Any:
        return ("WINDOW", spec)

    def where_clause(self, _w: Token, e: ast.Expr) -> Any:
        return ("WHERE", e)

    @v_args(inline=False)
    def group_by(self, c: list[Any]) -> Any:
        return ("GROUP", c[2])

    @v_args(inline=False)
    def group_items(self, c: list[Any]) -> tuple[ast.Expr, ...]:
        return tuple(c)

    @v_args(inline=False)
    def partition_by(self, c: list[Any]) -> Any:
        return ("PARTITION", tuple(c[2:]))

    def having(self, _h: Token, e: ast.Expr) -> Any:
        return ("HAVING", e)

    def emit(self, _e: Token, what: Token) -> Any:
        return ("EMIT", str(what.type))

    def limit_clause(self, _l: Token, n: Token) -> Any:
        return ("LIMIT", int(n))

    @v_args(inline=False)
    def window_expression(self, c: list[Any]) -> ast.WindowSpec:
        return c[-1]  # type: ignore[no-any-return]

    def tumbling(self, _t: Token, _s: Token, size: int, opts: dict[str, int]) -> ast.WindowSpec:
        return ast.WindowSpec("TUMBLING", size, None, opts.get("RETENTION"), opts.get("GRACE"))

    def hopping(
        self, _h: Token, _s: Token, size: int, _a: Token, _b: Token, adv: int, opts: dict[str, int]
    ) -> ast.WindowSpec:
        return ast.WindowSpec("HOPPING", size, adv, opts.get("RETENTION"), opts.get("GRACE"))

    def session(self, _s: Token, gap: int, opts: dict[str, int]) -> ast.WindowSpec:
        return ast.WindowSpec("SESSION", gap, None, opts.get("RETENTION"), opts.get("GRACE"))

    @v_args(inline=False)
    def window_options(self, c: list[Any]) -> dict[str, int]:
        return dict(c)

    def retention(self, _r: Token, d: int) -> Any:
        return ("RETENTION", d)

    def grace_period(self, _g: Token, _p: Token, d: int) -> Any:
        return ("GRACE", d)

    def duration(self, n: ast.Literal, unit: str) -> int:
        return int(str(n.value)) * _UNITS_MS[unit]

    def time_unit(self, tok: Token) -> str:
        return str(tok.type).rstrip("S")

    @v_args(inline=False)
    def relation(self, c: list[Any]) -> Any:
        return ("RELATION", c[0], tuple(c[1:]))

    @v_args(inline=False)
    def aliased_relation(self, c: list[Any]) -> ast.Relation:
        names = [x for x in c if not isinstance(x, Token)]
        return ast.Relation(names[0], names[1] if len(names) > 1 else None)

    @v_args(inline=False)
    def joined_source(self, c: list[Any]) -> ast.Join:
        kind, right = c[0], c[2]
        within = next((x for x in c if isinstance(x, tuple) and x and x[0] == "WITHIN"), None)
        on = c[-1]
        return ast.Join(
            kind, right, on, within[1] if within else None, within[2] if within else None
        )

    def inner(self, *_: Any) -> str:
        return "INNER"

    def left(self, *_: Any) -> str:
        return "LEFT"

    def right(self, *_: Any) -> str:
        return "RIGHT"

    def full(self, *_: Any) -> str:
        return "FULL"

    @v_args(inline=False)
    def join_window(self, c: list[Any]) -> Any:
        durations = [x for x in c if isinstance(x, int) and not isinstance(x, Token)]
        grace = next((x[1] for x in c if isinstance(x, tuple) and x[0] == "GRACE"), None)
        before = durations[0]
        after = durations[1] if len(durations) > 1 else before
        return ("WITHIN", (before, after), grace)
