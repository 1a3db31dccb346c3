"""Connect's exceptions as a tree (Kafka's `ConnectException` and its subclasses).

`ConnectRestError` carries the HTTP status the REST layer answers with (`{"error_code", "message"}`).
"""

from __future__ import annotations


class ConnectException(Exception):
    """Any Connect failure."""


class DataException(ConnectException):
    """Data does not fit its schema, or cannot be converted."""


class RetriableException(ConnectException):
    """A failure a task may retry (a source `poll` or sink `put` that should be called again)."""


class ConfigException(ConnectException):
    """A connector or worker configuration is invalid."""


class NotFoundException(ConnectException):
    """No such connector, task or plugin."""


class AlreadyExistsException(ConnectException):
    """A connector with that name exists."""


class ConnectRestError(ConnectException):
    """An error answered over REST with `status` and Kafka's `{"error_code", "message"}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
