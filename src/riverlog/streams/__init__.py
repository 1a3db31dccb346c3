"""riverlog.streams: Kafka Streams' model and semantics in Python, on any Kafka-protocol cluster."""

from riverlog.streams.builder import StreamsBuilder
from riverlog.streams.errors import StreamsException, TopologyException
from riverlog.streams.grouped import (
    KGroupedStream,
    KGroupedTable,
    SessionWindowedKStream,
    TimeWindowedKStream,
)
from riverlog.streams.interactive import QueryableStoreTypes, StoreQueryParameters
from riverlog.streams.join_options import Joined, JoinWindows, StreamJoined, TableJoined
from riverlog.streams.kstream import BranchedKStream, KStream
from riverlog.streams.ktable import KTable
from riverlog.streams.options import (
    Branched,
    Consumed,
    Grouped,
    Materialized,
    Named,
    Printed,
    Produced,
    Repartitioned,
    StoreBuilder,
    Stores,
)
from riverlog.streams.processors.base import Processor, ProcessorContext
from riverlog.streams.punctuation import Cancellable, PunctuationType
from riverlog.streams.records import KeyValue, Record, Window, Windowed
from riverlog.streams.serdes import Serde, Serdes, WindowedSerdes
from riverlog.streams.suppressed import Suppressed
from riverlog.streams.topology import Topology, TopologyDescription
from riverlog.streams.windows import SessionWindows, SlidingWindows, TimeWindows

__all__ = [
    "Branched",
    "BranchedKStream",
    "Cancellable",
    "Consumed",
    "Grouped",
    "JoinWindows",
    "Joined",
    "KGroupedStream",
    "KGroupedTable",
    "KStream",
    "KTable",
    "KeyValue",
    "Materialized",
    "Named",
    "Printed",
    "Processor",
    "ProcessorContext",
    "Produced",
    "PunctuationType",
    "QueryableStoreTypes",
    "Record",
    "Repartitioned",
    "Serde",
    "Serdes",
    "SessionWindowedKStream",
    "SessionWindows",
    "SlidingWindows",
    "StoreBuilder",
    "StoreQueryParameters",
    "Stores",
    "StreamJoined",
    "StreamsBuilder",
    "StreamsException",
    "Suppressed",
    "TableJoined",
    "TimeWindowedKStream",
    "TimeWindows",
    "Topology",
    "TopologyDescription",
    "TopologyException",
    "Window",
    "Windowed",
    "WindowedSerdes",
]
from riverlog.streams.runtime.kafka_streams import KafkaStreams as KafkaStreams
from riverlog.streams.runtime.restore import StateRestoreListener as StateRestoreListener
from riverlog.streams.runtime.restore_progress import RestoreProgress as RestoreProgress
