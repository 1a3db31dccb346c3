"""The ksqlDB grammar: statements parse to the AST; syntax errors point at line, column and token."""

from __future__ import annotations

import pytest

from riverlog.sql import ast
from riverlog.sql.errors import SqlSyntaxError
from riverlog.sql.parser import parse, parse_one
from riverlog.sql.script import split_statements


def test_create_stream_with_keys_types_and_properties() -> None:
    s = parse_one(
        "CREATE STREAM pageviews (id BIGINT KEY, `key` VARCHAR, amount DECIMAL(10,2), "
        "s STRUCT<a INT, b ARRAY<STRING>>) WITH (kafka_topic='pv', value_format='JSON', partitions=1);"
    )
    assert isinstance(s, ast.CreateSource)
    assert s.kind == "STREAM" and s.name == "PAGEVIEWS"
    assert [e.name for e in s.elements] == ["ID", "key", "AMOUNT", "S"]
    assert s.elements[0].constraint == "KEY"
    assert s.elements[2].type == ast.TypeRef("DECIMAL", (10, 2))
    assert s.properties == {"KAFKA_TOPIC": "pv", "VALUE_FORMAT": "JSON", "PARTITIONS": 1}


def test_windowed_aggregation_query() -> None:
    s = parse_one(
        "CREATE TABLE t AS SELECT id, COUNT(*) AS c FROM s "
        "WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 10 SECONDS, GRACE PERIOD 2 SECONDS) "
        "WHERE a > 1 GROUP BY id HAVING COUNT(*) > 1 EMIT FINAL;"
    )
    assert isinstance(s, ast.CreateAsSelect)
    q = s.query
    assert q.window == ast.WindowSpec("HOPPING", 60_000, 10_000, None, 2_000)
    assert q.emit == "FINAL"
    assert q.group_by == (ast.Column("ID"),)
    assert q.select[1] == ast.SelectItem(ast.Call("COUNT", (), True), "C")


def test_expressions_precedence_lambdas_and_structs() -> None:
    s = parse_one("SELECT a + b * 2, s->f, arr[1], TRANSFORM(arr, x => x + 1) FROM t EMIT CHANGES;")
    assert isinstance(s, ast.QueryStatement)
    e = s.query.select[0].expr
    assert e == ast.Binary(
        "+", ast.Column("A"), ast.Binary("*", ast.Column("B"), ast.Literal(2, "integer"))
    )
    assert s.query.select[1].expr == ast.Dereference(ast.Column("S"), "F")
    lam = s.query.select[3].expr
    assert isinstance(lam, ast.Call) and isinstance(lam.args[1], ast.Lambda)


def test_join_within_and_grace() -> None:
    s = parse_one(
        "SELECT * FROM a JOIN b WITHIN (1 HOUR, 2 HOURS) GRACE PERIOD 5 MINUTES ON a.id = b.id EMIT CHANGES;"
    )
    assert isinstance(s, ast.QueryStatement)
    j = s.query.joins[0]
    assert j.kind == "INNER" and j.within == (3_600_000, 7_200_000) and j.grace_ms == 300_000


def test_script_with_many_statement_kinds() -> None:
    stmts = parse(
        "SHOW STREAMS; LIST TABLES EXTENDED; DESCRIBE s; PRINT 'topic' FROM BEGINNING LIMIT 2; "
        "TERMINATE CSAS_X_1; SET 'auto.offset.reset'='earliest'; DROP TABLE IF EXISTS t DELETE TOPIC;"
    )
    assert [type(s).__name__ for s in stmts] == [
        "ListStatement",
        "ListStatement",
        "Describe",
        "PrintTopic",
        "QueryControl",
        "SetProperty",
        "DropSource",
    ]
    assert stmts[3] == ast.PrintTopic("topic", True, None, 2)
    assert stmts[-1] == ast.DropSource("TABLE", "T", True, True)


def test_variables_are_substituted_before_parsing() -> None:
    s = parse_one("SELECT * FROM ${src} EMIT CHANGES;", {"src": "pageviews"})
    assert isinstance(s, ast.QueryStatement) and s.query.source.name == "PAGEVIEWS"


def test_syntax_error_names_line_column_and_token() -> None:
    with pytest.raises(SqlSyntaxError) as e:
        parse("SELECT *\nFRM x;")
    assert e.value.line == 2 and e.value.column == 1 and e.value.offending == "FRM"
    assert str(e.value).startswith("line 2:1: Syntax Error")


def test_split_statements_respects_quotes_and_comments() -> None:
    parts = split_statements("SELECT 'a;b' FROM x; -- c;\nSHOW STREAMS;")
    assert len(parts) == 2 and "'a;b'" in parts[0]
