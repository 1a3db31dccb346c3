"""The statement half of the parse-tree builder: SHOW/LIST, DESCRIBE, PRINT, query control,
SET/DEFINE, CREATE/DROP/INSERT, EXPLAIN, RUN SCRIPT, ALTER and ASSERT (`riverlog.sql.parser` adds
queries and expressions on top)."""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, v_args

from riverlog.sql import ast


def _unquote(s: str, q: str) -> str:
    return s[1:-1].replace(q + q, q)


def _is(tok: object, *types: str) -> bool:
    return isinstance(tok, Token) and tok.type in types


@v_args(inline=True)
class StatementBuilder(Transformer[Token, Any]):
    """Lark tree → statement ASTs; `text` is the script (each statement keeps its own text)."""

    text: str

    # -- statements ------------------------------------------------------------------------
    @v_args(inline=False)
    def statements(self, c: list[Any]) -> list[ast.Statement]:
        return [s for s in c if isinstance(s, ast.Statement)]

    def _stmt(self, meta: Any) -> dict[str, Any]:
        if getattr(meta, "empty", True):
            return {}
        return {
            "text": self.text[meta.start_pos : meta.end_pos] + ";",
            "line": meta.line,
            "column": meta.column,
        }

    @v_args(meta=True, inline=True)
    def query_statement(self, meta: Any, q: ast.Query) -> ast.QueryStatement:
        return ast.QueryStatement(q, **self._stmt(meta))

    def _lister(what: str) -> Any:  # type: ignore[misc]
        @v_args(meta=True, inline=False)
        def f(self: StatementBuilder, meta: Any, c: list[Any]) -> ast.ListStatement:
            extended = any(_is(x, "EXTENDED") for x in c)
            qual = next((str(x.type) for x in c if _is(x, "ALL", "SOURCE", "SINK")), None)
            return ast.ListStatement(what, extended, qual, **self._stmt(meta))

        return f

    list_properties = _lister("PROPERTIES")
    list_topics = _lister("TOPICS")
    list_streams = _lister("STREAMS")
    list_tables = _lister("TABLES")
    list_functions = _lister("FUNCTIONS")
    list_types = _lister("TYPES")
    list_queries = _lister("QUERIES")
    list_variables = _lister("VARIABLES")
    list_connectors = _lister("CONNECTORS")

    def show(self, tok: Token) -> Token:
        return tok

    @v_args(meta=True, inline=False)
    def describe_source(self, meta: Any, c: list[Any]) -> ast.Describe:
        extended = any(_is(x, "EXTENDED") for x in c)
        return ast.Describe(c[1], extended, **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def describe_streams(self, meta: Any, c: list[Any]) -> ast.Describe:
        extended = any(_is(x, "EXTENDED") for x in c)
        return ast.Describe(None, extended, str(c[1].type), **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def describe_function(self, meta: Any, c: list[Any]) -> ast.Describe:
        return ast.Describe(c[2], False, "FUNCTION", **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def describe_connector(self, meta: Any, c: list[Any]) -> ast.Describe:
        return ast.Describe(c[2], False, "CONNECTOR", **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def print_topic(self, meta: Any, c: list[Any]) -> ast.PrintTopic:
        target = c[1]
        topic = _unquote(str(target), "'") if _is(target, "STRING") else str(target)
        clause: dict[str, Any] = c[2]
        return ast.PrintTopic(
            topic,
            clause.get("FROM", False),
            clause.get("INTERVAL"),
            clause.get("LIMIT"),
            **self._stmt(meta),
        )

    @v_args(inline=False)
    def print_clause(self, c: list[Any]) -> dict[str, Any]:
        return dict(c)

    def from_beginning(self, *_: Any) -> Any:
        return ("FROM", True)

    def interval_clause(self, _i: Token, n: Token) -> Any:
        return ("INTERVAL", int(n))

    def _control(action: str) -> Any:  # type: ignore[misc]
        @v_args(meta=True, inline=False)
        def f(self: StatementBuilder, meta: Any, c: list[Any]) -> ast.QueryControl:
            target = c[1]
            qid = "ALL" if _is(target, "ALL") else str(target)
            return ast.QueryControl(action, qid, **self._stmt(meta))

        return f

    terminate_query = _control("TERMINATE")
    pause_query = _control("PAUSE")
    resume_query = _control("RESUME")

    @v_args(meta=True, inline=False)
    def set_property(self, meta: Any, c: list[Any]) -> ast.SetProperty:
        return ast.SetProperty(
            _unquote(str(c[1]), "'"), _unquote(str(c[3]), "'"), **self._stmt(meta)
        )

    @v_args(meta=True, inline=False)
    def unset_property(self, meta: Any, c: list[Any]) -> ast.UnsetProperty:
        return ast.UnsetProperty(_unquote(str(c[1]), "'"), **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def define_variable(self, meta: Any, c: list[Any]) -> ast.DefineVariable:
        return ast.DefineVariable(c[1], _unquote(str(c[3]), "'"), **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def undefine_variable(self, meta: Any, c: list[Any]) -> ast.UndefineVariable:
        return ast.UndefineVariable(c[1], **self._stmt(meta))

    def or_replace(self, *_: Any) -> Any:
        return ("OR_REPLACE", True)

    def if_not_exists(self, *_: Any) -> Any:
        return ("IF_NOT_EXISTS", True)

    def if_exists(self, *_: Any) -> Any:
        return ("IF_EXISTS", True)

    def delete_topic(self, *_: Any) -> Any:
        return ("DELETE_TOPIC", True)

    @staticmethod
    def _flags(c: list[Any]) -> dict[str, Any]:
        return {x[0]: x[1] for x in c if isinstance(x, tuple) and len(x) == 2}

    @staticmethod
    def _name(c: list[Any]) -> str:
        return next(x for x in c if isinstance(x, str) and not isinstance(x, Token))

    def _create(self, meta: Any, c: list[Any], kind: str) -> ast.CreateSource:
        flags = self._flags(c)
        elements = next((x for x in c if isinstance(x, list)), [])
        props = next((x for x in c if isinstance(x, dict)), {})
        return ast.CreateSource(
            kind,
            self._name(c),
            tuple(elements),
            props,
            flags.get("OR_REPLACE", False),
            flags.get("IF_NOT_EXISTS", False),
            any(_is(x, "SOURCE") for x in c),
            **self._stmt(meta),
        )

    @v_args(meta=True, inline=False)
    def create_stream(self, meta: Any, c: list[Any]) -> ast.CreateSource:
        return self._create(meta, c, "STREAM")

    @v_args(meta=True, inline=False)
    def create_table(self, meta: Any, c: list[Any]) -> ast.CreateSource:
        return self._create(meta, c, "TABLE")

    def _create_as(self, meta: Any, c: list[Any], kind: str) -> ast.CreateAsSelect:
        flags = self._flags(c)
        props = next((x for x in c if isinstance(x, dict)), {})
        query = next(x for x in c if isinstance(x, ast.Query))
        return ast.CreateAsSelect(
            kind,
            self._name(c),
            query,
            props,
            flags.get("OR_REPLACE", False),
            flags.get("IF_NOT_EXISTS", False),
            **self._stmt(meta),
        )

    @v_args(meta=True, inline=False)
    def create_stream_as(self, meta: Any, c: list[Any]) -> ast.CreateAsSelect:
        return self._create_as(meta, c, "STREAM")

    @v_args(meta=True, inline=False)
    def create_table_as(self, meta: Any, c: list[Any]) -> ast.CreateAsSelect:
        return self._create_as(meta, c, "TABLE")

    @v_args(meta=True, inline=False)
    def create_connector(self, meta: Any, c: list[Any]) -> ast.CreateConnector:
        flags = self._flags(c)
        kind = "SOURCE" if any(_is(x, "SOURCE") for x in c) else "SINK"
        props = next((x for x in c if isinstance(x, dict)), {})
        return ast.CreateConnector(
            kind, self._name(c), props, flags.get("IF_NOT_EXISTS", False), **self._stmt(meta)
        )

    @v_args(meta=True, inline=False)
    def create_type(self, meta: Any, c: list[Any]) -> ast.CreateType:
        flags = self._flags(c)
        t = next(x for x in c if isinstance(x, ast.TypeRef))
        return ast.CreateType(
            self._name(c), t, flags.get("IF_NOT_EXISTS", False), **self._stmt(meta)
        )

    @v_args(meta=True, inline=False)
    def drop_type(self, meta: Any, c: list[Any]) -> ast.DropType:
        flags = self._flags(c)
        return ast.DropType(self._name(c), flags.get("IF_EXISTS", False), **self._stmt(meta))

    def _drop(self, meta: Any, c: list[Any], kind: str) -> ast.DropSource:
        flags = self._flags(c)
        return ast.DropSource(
            kind,
            self._name(c),
            flags.get("IF_EXISTS", False),
            flags.get("DELETE_TOPIC", False),
            **self._stmt(meta),
        )

    @v_args(meta=True, inline=False)
    def drop_stream(self, meta: Any, c: list[Any]) -> ast.DropSource:
        return self._drop(meta, c, "STREAM")

    @v_args(meta=True, inline=False)
    def drop_table(self, meta: Any, c: list[Any]) -> ast.DropSource:
        return self._drop(meta, c, "TABLE")

    @v_args(meta=True, inline=False)
    def drop_connector(self, meta: Any, c: list[Any]) -> ast.DropConnector:
        flags = self._flags(c)
        return ast.DropConnector(self._name(c), flags.get("IF_EXISTS", False), **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def insert_into(self, meta: Any, c: list[Any]) -> ast.InsertInto:
        props = next((x for x in c if isinstance(x, dict)), {})
        query = next(x for x in c if isinstance(x, ast.Query))
        return ast.InsertInto(self._name(c), query, props, **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def insert_values(self, meta: Any, c: list[Any]) -> ast.InsertValues:
        cols = next((x for x in c if isinstance(x, tuple) and x and x[0] == "COLUMNS"), None)
        values = next(x for x in c if isinstance(x, tuple) and x and x[0] == "VALUES")
        return ast.InsertValues(
            self._name(c), tuple(cols[1]) if cols else (), tuple(values[1]), **self._stmt(meta)
        )

    @v_args(inline=False)
    def column_list(self, c: list[Any]) -> Any:
        return ("COLUMNS", c)

    @v_args(inline=False)
    def values(self, c: list[Any]) -> Any:
        return ("VALUES", c[1:] if c and _is(c[0], "VALUES") else c)

    @v_args(meta=True, inline=False)
    def explain(self, meta: Any, c: list[Any]) -> ast.Explain:
        target = c[1]
        if isinstance(target, ast.Statement):
            return ast.Explain(target, **self._stmt(meta))
        return ast.Explain(None, str(target), **self._stmt(meta))

    @v_args(meta=True, inline=False)
    def run_script(self, meta: Any, c: list[Any]) -> ast.RunScript:
        return ast.RunScript(_unquote(str(c[2]), "'"), **self._stmt(meta))

    @v_args(inline=False)
    def table_elements(self, c: list[Any]) -> list[ast.TableElement]:
        return c

    @v_args(inline=False)
    def table_element(self, c: list[Any]) -> ast.TableElement:
        name, t = c[0], c[1]
        constraint, header = c[2] if len(c) > 2 else (None, None)
        return ast.TableElement(name, t, constraint, header)

    def primary_key(self, *_: Any) -> Any:
        return ("PRIMARY KEY", None)

    def key(self, *_: Any) -> Any:
        return ("KEY", None)

    def headers(self, *_: Any) -> Any:
        return ("HEADERS", None)

    def header(self, _h: Token, s: Token) -> Any:
        return ("HEADER", _unquote(str(s), "'"))

    @v_args(inline=False)
    def with_props(self, c: list[Any]) -> dict[str, object]:
        return dict(c[1:])

    def table_property(self, name: Any, _eq: Token, value: ast.Literal) -> Any:
        key = _unquote(str(name), "'") if _is(name, "STRING") else str(name)
        return (key, value.value)

    # -- ALTER and ASSERT ------------------------------------------------------------------
    @v_args(meta=True, inline=False)
    def alter_source(self, meta: Any, c: list[Any]) -> ast.AlterSource:
        kind = "STREAM" if any(_is(x, "STREAM") for x in c) else "TABLE"
        name = next(x for x in c if isinstance(x, str) and not isinstance(x, Token))
        columns = tuple(x for x in c if isinstance(x, tuple))
        return ast.AlterSource(kind, name, columns, **self._stmt(meta))

    @v_args(inline=False)
    def alter_option(self, c: list[Any]) -> tuple[str, ast.TypeRef]:
        name = next(x for x in c if isinstance(x, str) and not isinstance(x, Token))
        t = next(x for x in c if isinstance(x, ast.TypeRef))
        return (name, t)

    @v_args(inline=False)
    def resource_name(self, c: list[Any]) -> Any:
        x = c[0]
        return ("RESOURCE", _unquote(str(x), "'") if _is(x, "STRING") else str(x))

    def assert_not_exists(self, *_: Any) -> Any:
        return ("NOT_EXISTS", True)

    def assert_subject(self, _s: Token, name: Any) -> Any:
        return ("SUBJECT", name[1])

    def assert_id(self, _i: Token, n: Token) -> Any:
        return ("ID", int(str(n)))

    def assert_timeout(self, _t: Token, ms: int) -> Any:
        return ("TIMEOUT", ms)

    @staticmethod
    def _tagged(c: list[Any]) -> dict[str, Any]:
        return {x[0]: x[1] for x in c if isinstance(x, tuple) and len(x) == 2}

    @v_args(meta=True, inline=False)
    def assert_topic(self, meta: Any, c: list[Any]) -> ast.AssertTopic:
        tags = self._tagged(c)
        props = next((x for x in c if isinstance(x, dict)), {})
        return ast.AssertTopic(
            tags["RESOURCE"],
            not tags.get("NOT_EXISTS", False),
            props,
            tags.get("TIMEOUT"),
            **self._stmt(meta),
        )

    @v_args(meta=True, inline=False)
    def assert_schema(self, meta: Any, c: list[Any]) -> ast.AssertSchema:
        tags = self._tagged(c)
        return ast.AssertSchema(
            tags.get("SUBJECT"),
            tags.get("ID"),
            not tags.get("NOT_EXISTS", False),
            tags.get("TIMEOUT"),
            **self._stmt(meta),
        )
