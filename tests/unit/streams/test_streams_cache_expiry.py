"""Regression: with caching on, dirty cache entries of a window or session store whose segment
expires before the next cache flush are still forwarded (Kafka's caching stores flush them; they
must not vanish with the segment). Driven through StreamTask in one burst, as the runtime does
between commits."""

from __future__ import annotations

import random
from datetime import timedelta

from riverlog.streams import (
    Consumed,
    Grouped,
    Materialized,
    Serdes,
    SessionWindows,
    SlidingWindows,
    StreamsBuilder,
    TimeWindows,
)
from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.serdes import SessionWindowedSerde, TimeWindowedSerde
from riverlog.streams.task import StreamTask

S, L = Serdes.String(), Serdes.Long()
TP = TopicPartition("clicks", 0)


def _topology(windows):
    b = StreamsBuilder()
    (
        b.stream("clicks", Consumed.with_(S, S))
        .group_by_key(Grouped.with_(S, S))
        .windowed_by(windows)
        .count(Materialized.as_("counts"))
        .to_stream()
        .to("out")
    )
    return b.build()


def _burst(n: int = 3000, span_ms: int = 120_000, keys: int = 24) -> list[InputRecord]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        ts = i * span_ms // n
        key = f"k{rnd.randrange(keys)}"
        out.append(InputRecord("clicks", 0, i, ts, key.encode(), b"c", []))
    return out


def _final_windows(windows, key_serde, cache_bytes: int) -> dict[tuple[str, int, int], int]:
    task = StreamTask(
        TaskId(0, 0),
        _topology(windows),
        {TP},
        {"statestore.cache.max.bytes": cache_bytes},
        "app",
        None,
    )
    task.complete_restoration()
    task.add_records(TP, _burst())
    while task.process(0):
        pass
    task.prepare_commit()
    latest: dict[tuple[str, int, int], int] = {}
    for o in task.drain_outputs():
        if o.topic != "out":
            continue
        wk = key_serde.deserialize("out", o.key)
        v = L.deserialize("out", o.value)
        k = (wk.key, wk.window.start, wk.window.end)
        if v is None:
            latest.pop(k, None)
        else:
            latest[k] = v
    return latest


def test_tumbling_windows_survive_segment_expiry_with_cache() -> None:
    w = TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(seconds=5))
    serde = TimeWindowedSerde(S, 10_000)
    uncached = _final_windows(w, serde, 0)
    cached = _final_windows(w, serde, 10 * 1024 * 1024)
    assert len(uncached) == 24 * 12
    assert cached == uncached


def test_hopping_and_sliding_windows_survive_segment_expiry_with_cache() -> None:
    for w, size in [
        (
            TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(seconds=5)).advance_by(
                timedelta(seconds=5)
            ),
            10_000,
        ),
        (
            SlidingWindows.of_time_difference_and_grace(
                timedelta(seconds=10), timedelta(seconds=5)
            ),
            10_000,
        ),
    ]:
        serde = TimeWindowedSerde(S, size)
        uncached = _final_windows(w, serde, 0)
        cached = _final_windows(w, serde, 10 * 1024 * 1024)
        assert len(uncached) > 24 * 12
        assert cached == uncached


def test_sessions_survive_segment_expiry_with_cache() -> None:
    w = SessionWindows.of_inactivity_gap_and_grace(timedelta(seconds=1), timedelta(seconds=5))
    serde = SessionWindowedSerde(S)
    uncached = _final_windows(w, serde, 0)
    cached = _final_windows(w, serde, 10 * 1024 * 1024)
    assert len(uncached) > 24
    assert cached == uncached
