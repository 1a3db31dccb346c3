"""Connector statements without a Connect URL fail naming the setting (the statements against a
real Connect worker are in tests/integration/sql/test_sql_connect.py)."""

from __future__ import annotations

import pytest

from riverlog.sql.engine import Engine
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.qtt import DriverRuntime, MemoryKafka


@pytest.mark.parametrize(
    "statement",
    [
        "SHOW CONNECTORS;",
        "CREATE SOURCE CONNECTOR c WITH ('connector.class'='FileStreamSource');",
        "DROP CONNECTOR c;",
        "DESCRIBE CONNECTOR c;",
    ],
)
def test_connector_statements_need_the_connect_url(statement: str) -> None:
    kafka = MemoryKafka()
    engine = Engine(kafka, DriverRuntime(kafka))
    with pytest.raises(SqlStatementError, match="ksql.connect.url"):
        engine.execute(statement)
