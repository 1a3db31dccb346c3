"""Runtime pieces that need no broker: the client state table, internal topic partition counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from riverlog.streams.config import StreamsConfig
from riverlog.streams.errors import MissingSourceTopicException
from riverlog.streams.runtime.internal_topics import InternalTopicManager
from riverlog.streams.runtime.kafka_streams import TRANSITIONS, State


def test_state_table_is_kafka_streams() -> None:
    # KafkaStreams.State: CREATED(1, 3), REBALANCING(2, 3, 5), RUNNING(1, 2, 3, 5), PENDING_SHUTDOWN(4),
    # NOT_RUNNING, PENDING_ERROR(6), ERROR — ordinals in declaration order.
    order = list(State)
    assert [s.value for s in order] == [
        "CREATED",
        "REBALANCING",
        "RUNNING",
        "PENDING_SHUTDOWN",
        "NOT_RUNNING",
        "PENDING_ERROR",
        "ERROR",
    ]
    kafka = {0: {1, 3}, 1: {2, 3, 5}, 2: {1, 2, 3, 5}, 3: {4}, 4: set(), 5: {6}, 6: set()}
    for index, state in enumerate(order):
        assert {order.index(s) for s in TRANSITIONS[state]} == kafka[index], state


@dataclass
class Sub:
    source_topics: frozenset[str]
    sink_topics: frozenset[str] = frozenset()


@dataclass
class Spec:
    kind: str
    subtopology: int
    partitions: int | None
    configs: dict[str, str] = field(default_factory=dict)


class Topology:
    """A topology value as the core describes one (word count: source -> repartition -> count)."""

    def __init__(self, repartition_owner: int) -> None:
        self.subs = {
            0: Sub(frozenset({"text"}), frozenset({"words-repartition"})),
            1: Sub(frozenset({"words-repartition"})),
            2: Sub(frozenset({"wide"}), frozenset({"words-repartition"})),
        }
        self.specs = {
            "words-repartition": Spec("repartition", repartition_owner, None),
            "counts-changelog": Spec("changelog", 1, None),
            "fixed-repartition": Spec("repartition", 0, 7),
        }

    def subtopologies(self) -> dict[int, Sub]:
        return self.subs

    def internal_topics(self) -> dict[str, Spec]:
        return self.specs

    def is_internal(self, topic: str) -> bool:
        return topic.endswith(("-repartition", "-changelog"))


@pytest.mark.parametrize("owner", [0, 1])
def test_partition_counts_follow_the_source_topics(owner: int) -> None:
    manager = InternalTopicManager(
        None, StreamsConfig({"application.id": "app", "bootstrap.servers": "x:1"})
    )  # type: ignore[arg-type]
    counts = manager.resolve_partitions(Topology(owner), {"text": 5, "wide": 6})
    # the repartition topic is as wide as its widest writer, the changelog as its store's reader
    assert counts == {
        "app-words-repartition": 6,
        "app-counts-changelog": 6,
        "app-fixed-repartition": 7,
    }


def test_missing_source_topic_is_named() -> None:
    manager = InternalTopicManager(
        None, StreamsConfig({"application.id": "app", "bootstrap.servers": "x:1"})
    )  # type: ignore[arg-type]
    with pytest.raises(MissingSourceTopicException, match="text"):
        manager.resolve_partitions(Topology(0), {"wide": 1})
