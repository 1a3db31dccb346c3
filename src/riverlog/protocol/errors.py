"""Exceptions raised by the protocol layer (Python exceptions, not wire error codes).

The tree::

    ProtocolError
    ├── FrameTooLargeError       size prefix negative or above socket.request.max.bytes
    ├── InvalidRequestError      truncated or malformed request/response bytes
    ├── UnsupportedVersionError  no schema for (api key, api version); carries the header
    └── CorruptRecordError       record batch fails parsing or its CRC check
        └── InvalidRecordError   the records inside a batch are malformed (bad framing)

The broker maps these to Kafka behaviour: a too-large or malformed frame closes the connection,
an unsupported version is answered with ``UNSUPPORTED_VERSION`` where the protocol allows it, and a
corrupt batch is answered with ``CORRUPT_MESSAGE`` (malformed records inside a well-formed batch with
``INVALID_RECORD``, as Kafka's ``InvalidRecordException``). Wire codes live in
``kio.schema.errors.ErrorCode``.
"""

from __future__ import annotations

from riverlog.protocol.header import RequestHeaderInfo

__all__ = [
    "CorruptRecordError",
    "FrameTooLargeError",
    "InvalidRecordError",
    "InvalidRequestError",
    "ProtocolError",
    "UnsupportedVersionError",
]


class ProtocolError(Exception):
    """Base of every error the protocol layer raises."""


class FrameTooLargeError(ProtocolError):
    """A frame's size prefix is negative or larger than the configured maximum."""

    def __init__(self, size: int, max_frame_bytes: int) -> None:
        super().__init__(f"invalid frame size {size} (socket.request.max.bytes={max_frame_bytes})")
        self.size = size
        self.max_frame_bytes = max_frame_bytes


class InvalidRequestError(ProtocolError):
    """Bytes that do not parse as the message they claim to be."""


class UnsupportedVersionError(ProtocolError):
    """No schema is known for the request's (api key, api version).

    ``header`` is the request header, decoded without the body, so the broker can still answer
    with the right correlation id (for ApiVersions: a v0 response with UNSUPPORTED_VERSION).
    """

    def __init__(self, header: RequestHeaderInfo) -> None:
        super().__init__(
            f"unsupported api key {header.api_key} version {header.api_version}"
            f" (correlation id {header.correlation_id})"
        )
        self.header = header


class CorruptRecordError(ProtocolError):
    """A record batch is truncated, malformed, or fails its CRC32C check."""


class InvalidRecordError(CorruptRecordError):
    """The records of a batch are malformed: lengths, varints or counts (Kafka's
    ``InvalidRecordException``). A ``CorruptRecordError`` too, so readers that skip undecodable
    batches skip these as well."""
