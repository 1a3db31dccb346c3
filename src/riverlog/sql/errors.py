"""SQL errors: a tree, as ksqlDB's (`KsqlStatementException` and friends).

Every error carries ksqlDB's REST `error_code`; those raised while reading a statement carry the
line and column it points at and, for syntax errors, the offending token.
"""

from __future__ import annotations

# ksqlDB's error codes (io.confluent.ksql.rest.Errors): HTTP status * 1000 + a sub-code.
ERROR_CODE_BAD_STATEMENT = 40001
ERROR_CODE_QUERY_ENDPOINT = 40002
ERROR_CODE_NOT_FOUND = 40400
ERROR_CODE_SERVER_ERROR = 50000


class SqlError(Exception):
    """Base of every riverlog.sql error."""

    error_code = ERROR_CODE_BAD_STATEMENT


class SqlStatementError(SqlError):
    """A statement that cannot be executed: unknown source, type error, bad property…"""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class SqlSyntaxError(SqlStatementError):
    """The text does not parse; `offending` is the token the parser stopped at."""

    def __init__(self, message: str, line: int, column: int, offending: str) -> None:
        super().__init__(message, line, column)
        self.offending = offending


class SqlTypeError(SqlStatementError):
    """An expression whose types do not fit (bad operands, wrong function arguments)."""


class SqlNotFoundError(SqlStatementError):
    """A stream, table, type, query or function that does not exist."""

    error_code = ERROR_CODE_NOT_FOUND


class SqlRuntimeError(SqlError):
    """Evaluation failed for one record (the processing log gets it; the query carries on)."""


ERROR_CODE_ASSERTION_FAILED = 41700


class SqlAssertionError(SqlError):
    """An ASSERT TOPIC/SCHEMA that did not hold within its timeout (ksqlDB answers HTTP 417)."""

    error_code = ERROR_CODE_ASSERTION_FAILED
