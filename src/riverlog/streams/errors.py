"""Streams exceptions (Kafka Streams' names)."""

from __future__ import annotations


class StreamsException(Exception):
    """A failure inside a stream task; `node_name` names the processor node when known."""

    def __init__(self, message: str, node_name: str | None = None) -> None:
        super().__init__(message)
        self.node_name = node_name


class TopologyException(StreamsException):
    """An invalid topology (bad names, a store used without being added…)."""


class SerializationException(StreamsException):
    """A key or value that could not be (de)serialized."""
