"""Interactive queries on one KafkaStreams instance over a real broker: key-value and window stores
across every partition's task, type checks, and the retriable error outside RUNNING."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from riverlog.streams import (
    Consumed,
    Grouped,
    KafkaStreams,
    Materialized,
    QueryableStoreTypes,
    Serdes,
    StoreQueryParameters,
    StreamsBuilder,
    TimeWindows,
)
from riverlog.streams.errors import InvalidStateStoreException
from riverlog.streams.runtime.kafka_streams import State
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
S = Serdes.String()
KV = StoreQueryParameters.from_name_and_type("counts", QueryableStoreTypes.key_value_store())


def test_key_value_and_window_queries_across_partitions(
    broker: RunningBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source = make_topic(partitions=3, prefix="iq")
    b = StreamsBuilder()
    grouped = b.stream(source, Consumed.with_(S, S)).group_by_key(Grouped.with_(S, S))
    grouped.count(Materialized.as_("counts"))
    grouped.windowed_by(
        TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(hours=1))
    ).count(Materialized.as_("windowed"))
    app = KafkaStreams(
        b.build(),
        {
            "application.id": f"iq-{uuid.uuid4().hex[:6]}",
            "bootstrap.servers": broker.bootstrap_servers,
            "state.dir": str(tmp_path),
            "commit.interval.ms": 100,
        },
    )
    with pytest.raises(InvalidStateStoreException, match="not in state RUNNING"):
        app.store(KV)
    try:
        app.start()
        assert app.wait_for_state(State.RUNNING, 60)
        p = Producer({"bootstrap.servers": broker.bootstrap_servers})
        want = {f"user{i}": i % 4 + 1 for i in range(30)}
        for key, n in want.items():
            for j in range(n):
                p.produce(source, key=key.encode(), value=b"x", timestamp=1_000 + j * 10_000)
        assert p.flush(30) == 0

        store = app.store(KV)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {kv.key: kv.value for kv in store.all()} != want:
            time.sleep(0.2)
        assert {kv.key: kv.value for kv in store.all()} == want
        assert all(store.get(k) == n for k, n in want.items())
        assert store.get("nobody") is None
        assert store.approximate_num_entries() >= len(want)
        in_range = sorted(kv.key for kv in store.range("user10", "user12"))
        assert in_range == ["user10", "user11", "user12"]
        ts = app.store(
            StoreQueryParameters.from_name_and_type(
                "counts", QueryableStoreTypes.timestamped_key_value_store()
            )
        )
        assert ts.get("user3").value == 4

        windows = app.store(
            StoreQueryParameters.from_name_and_type("windowed", QueryableStoreTypes.window_store())
        )
        # user3 has 4 records, one per 10 s window starting at 0, 10 s, 20 s, 30 s
        assert [(kv.key, kv.value) for kv in windows.fetch("user3", 0, 40_000)] == [
            (0, 1),
            (10_000, 1),
            (20_000, 1),
            (30_000, 1),
        ]
        assert windows.fetch("user3", 20_000) == 1
        assert len(list(windows.fetch_all(0, 0))) == 30

        with pytest.raises(InvalidStateStoreException, match="does not accept"):
            app.store(
                StoreQueryParameters.from_name_and_type(
                    "counts", QueryableStoreTypes.window_store()
                )
            )
        with pytest.raises(InvalidStateStoreException, match="no such store"):
            app.store(
                StoreQueryParameters.from_name_and_type(
                    "nope", QueryableStoreTypes.key_value_store()
                )
            )
        # one partition only
        p0 = app.store(KV.with_partition(0))
        p_all = sum(len(list(app.store(KV.with_partition(i)).all())) for i in range(3))
        assert len(list(p0.all())) < len(want) and p_all == len(want)
    finally:
        app.close(timedelta(seconds=30))
    with pytest.raises(InvalidStateStoreException):
        app.store(KV)
