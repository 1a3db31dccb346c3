"""The streams library's exceptions, as a tree (Kafka Streams' names).

StreamsException                 anything the library raises; `node_name` names the processor node
├── TaskMigratedException        a task moved to another instance (fenced, lost partitions)
├── TaskCorruptedException       a task's state cannot be trusted (EOS abort): wipe and restore
├── MissingSourceTopicException  a source topic of the topology does not exist
├── ProductionException          a record could not be produced (delivery failed)
└── InvalidStateStoreException   a store was queried while it is not open or not owned
"""

from __future__ import annotations


class StreamsException(Exception):
    """A streams error; `node_name` is the processor node where user code raised, when known."""

    def __init__(self, message: str, node_name: str | None = None) -> None:
        super().__init__(message)
        self.node_name = node_name


class TopologyException(StreamsException):
    """An invalid topology (bad names, a store used without being added…)."""


class SerializationException(StreamsException):
    """A key or value that could not be (de)serialized."""


class TaskMigratedException(StreamsException):
    """The thread lost ownership of a task; it rejoins the group and carries on."""


class TaskCorruptedException(StreamsException):
    """A task's local state may hold uncommitted effects; it is wiped and restored from its changelog."""


class MissingSourceTopicException(StreamsException):
    """A source topic named in the topology is missing from the cluster."""


class ProductionException(StreamsException):
    """The producer could not deliver a record (the thread fails, as Kafka's default handler does)."""


class InvalidStateStoreException(StreamsException):
    """A state store is not available for reading (closed, migrated or still restoring)."""
