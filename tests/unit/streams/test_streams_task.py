"""The sans-I/O StreamTask and ProcessorStateManager driven directly, as the runtime drives them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from riverlog.streams import Consumed, Materialized, Produced, Serdes, StreamsBuilder, TimeWindows
from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.state_manager import read_checkpoint
from riverlog.streams.task import StreamTask

S, L = Serdes.String(), Serdes.Long()
APP = "app"


def _rec(topic: str, partition: int, offset: int, ts: int, key: str, value: str) -> InputRecord:
    return InputRecord(topic, partition, offset, ts, key.encode(), value.encode(), [])


def _passthrough_topology():
    b = StreamsBuilder()
    b.stream(["a", "b"], Consumed.with_(S, S)).to("out", Produced.with_(S, S))
    return b.build()


def _count_topology(store_type: str = Materialized.ROCKS_DB):
    b = StreamsBuilder()
    b.stream("in", Consumed.with_(S, S)).group_by_key().count(
        Materialized.as_("counts").with_store_type(store_type)
    ).to_stream().to("out", Produced.with_(S, L))
    return b.build()


def test_picks_the_lowest_timestamp_across_partitions() -> None:
    tps = {TopicPartition("a", 0), TopicPartition("b", 0)}
    task = StreamTask(TaskId(0, 0), _passthrough_topology(), tps, {}, APP, None)
    task.add_records(
        TopicPartition("a", 0), [_rec("a", 0, 0, 10, "a0", "x"), _rec("a", 0, 1, 30, "a1", "x")]
    )
    task.add_records(
        TopicPartition("b", 0), [_rec("b", 0, 0, 20, "b0", "x"), _rec("b", 0, 1, 40, "b1", "x")]
    )
    while task.process(0):
        pass
    assert [o.key for o in task.drain_outputs()] == [b"a0", b"b0", b"a1", b"b1"]
    assert task.stream_time == 40
    assert task.prepare_commit() == {TopicPartition("a", 0): 2, TopicPartition("b", 0): 2}


def test_max_task_idle_waits_for_empty_partitions() -> None:
    tps = {TopicPartition("a", 0), TopicPartition("b", 0)}
    task = StreamTask(
        TaskId(0, 0), _passthrough_topology(), tps, {"max.task.idle.ms": 100}, APP, None
    )
    task.add_records(TopicPartition("a", 0), [_rec("a", 0, 0, 50, "late-a", "x")])
    assert not task.process(1000)  # b is empty: wait
    assert not task.process(1099)
    task.add_records(TopicPartition("b", 0), [_rec("b", 0, 0, 5, "early-b", "x")])
    assert task.process(1099)  # both have data: the lowest timestamp goes first
    assert task.drain_outputs()[0].key == b"early-b"
    assert not task.process(1100)  # b empty again: the idle time starts over
    assert task.process(1200)  # waited max.task.idle.ms: process what is there
    assert task.drain_outputs()[0].key == b"late-a"


def test_outputs_changelog_checkpoint_and_restore(tmp_path: Path) -> None:
    tp = TopicPartition("in", 3)
    config = {"statestore.cache.max.bytes": 0}
    task = StreamTask(TaskId(0, 3), _count_topology(), {tp}, config, APP, tmp_path)
    assert task.changelog_offsets_to_restore() == {TopicPartition("app-counts-changelog", 3): 0}
    task.complete_restoration()
    task.add_records(tp, [_rec("in", 3, i, 100 + i, k, "v") for i, k in enumerate(["x", "y", "x"])])
    while task.process(0):
        pass
    outs = task.drain_outputs()
    changelog = [o for o in outs if o.topic == "app-counts-changelog"]
    sink = [o for o in outs if o.topic == "out"]
    assert [(o.key, int.from_bytes(o.value, "big")) for o in sink] == [
        (b"x", 1),
        (b"y", 1),
        (b"x", 2),
    ]
    assert all(o.partition is None for o in sink)  # partitioned by key by the producer
    assert [o.partition for o in changelog] == [3, 3, 3]
    assert task.prepare_commit() == {tp: 3}
    task.post_commit({TopicPartition("app-counts-changelog", 3): 3})
    ckpt = tmp_path / APP / "0_3" / ".checkpoint"
    assert ckpt.read_text() == "0\n1\napp-counts-changelog 3 3\n"
    task.close(clean=True)

    # a new task on the same state dir resumes from the checkpoint and keeps its RocksDB state
    again = StreamTask(TaskId(0, 3), _count_topology(), {tp}, config, APP, tmp_path)
    assert again.changelog_offsets_to_restore() == {TopicPartition("app-counts-changelog", 3): 3}
    assert again.get_state_store("counts").get("x") == 2
    again.close(clean=True)

    # a wiped state dir restores everything from the changelog (offset 0)
    fresh_dir = tmp_path / "fresh"
    fresh = StreamTask(TaskId(0, 3), _count_topology(), {tp}, config, APP, fresh_dir)
    ctp = TopicPartition("app-counts-changelog", 3)
    assert fresh.changelog_offsets_to_restore() == {ctp: 0}
    fresh.restore(
        ctp,
        [
            InputRecord(ctp.topic, 3, i, o.timestamp, o.key, o.value, [])
            for i, o in enumerate(changelog)
        ],
    )
    fresh.complete_restoration()
    store = fresh.get_state_store("counts")
    assert (store.get("x"), store.get("y")) == (2, 1)
    assert store.get_with_timestamp("x").timestamp == 102
    fresh.add_records(tp, [_rec("in", 3, 3, 200, "x", "v")])
    assert fresh.process(0)
    assert store.get("x") == 3
    fresh.prepare_commit()
    fresh.post_commit({})  # the runtime did not report the changelog's end: the restored offset
    assert read_checkpoint(fresh_dir / APP / "0_3" / ".checkpoint") == {ctp: 3}
    fresh.post_commit({ctp: 4})
    assert read_checkpoint(fresh_dir / APP / "0_3" / ".checkpoint") == {ctp: 4}
    fresh.close(clean=True)


def test_exactly_once_keeps_no_checkpoint_while_running_and_wipes_without_one(
    tmp_path: Path,
) -> None:
    tp = TopicPartition("in", 0)
    eos = {"processing.guarantee": "exactly_once_v2"}
    task = StreamTask(TaskId(0, 0), _count_topology(), {tp}, eos, APP, tmp_path)
    task.complete_restoration()
    task.add_records(tp, [_rec("in", 0, 0, 1, "x", "v")])
    task.process(0)
    task.prepare_commit()
    task.post_commit({TopicPartition("app-counts-changelog", 0): 1})
    ckpt = tmp_path / APP / "0_0" / ".checkpoint"
    assert not ckpt.exists()  # under EOS the checkpoint is only written on a clean close
    task.close(clean=True)
    assert read_checkpoint(ckpt) == {TopicPartition("app-counts-changelog", 0): 1}

    # reopen, process (uncommitted), crash: the checkpoint is gone, so the next owner wipes and restores
    task = StreamTask(TaskId(0, 0), _count_topology(), {tp}, eos, APP, tmp_path)
    assert task.changelog_offsets_to_restore() == {TopicPartition("app-counts-changelog", 0): 1}
    task.complete_restoration()
    assert not ckpt.exists()
    task.add_records(tp, [_rec("in", 0, 1, 2, "x", "v")])
    task.process(0)
    task.close(clean=False)
    task = StreamTask(TaskId(0, 0), _count_topology(), {tp}, eos, APP, tmp_path)
    assert task.changelog_offsets_to_restore() == {TopicPartition("app-counts-changelog", 0): 0}
    assert (
        task.get_state_store("counts").get("x") is None
    )  # wiped, restored from the changelog next
    task.close(clean=False)


def test_in_memory_stores_are_not_checkpointed(tmp_path: Path) -> None:
    tp = TopicPartition("in", 0)
    task = StreamTask(
        TaskId(0, 0), _count_topology(Materialized.IN_MEMORY), {tp}, {}, APP, tmp_path
    )
    task.add_records(tp, [_rec("in", 0, 0, 1, "x", "v")])
    task.process(0)
    task.prepare_commit()
    task.post_commit({TopicPartition("app-counts-changelog", 0): 1})
    task.close(clean=True)
    again = StreamTask(
        TaskId(0, 0), _count_topology(Materialized.IN_MEMORY), {tp}, {}, APP, tmp_path
    )
    assert again.changelog_offsets_to_restore() == {TopicPartition("app-counts-changelog", 0): 0}
    again.close(clean=True)


def test_rocksdb_window_store_queries(tmp_path: Path) -> None:
    b = StreamsBuilder()
    b.stream("in", Consumed.with_(S, S)).group_by_key().windowed_by(
        TimeWindows.of_size_and_grace(timedelta(seconds=10), timedelta(hours=1))
    ).count(Materialized.as_("w"))
    tp = TopicPartition("in", 0)
    task = StreamTask(TaskId(0, 0), b.build(), {tp}, {}, APP, tmp_path)
    events = [("k", 1_000), ("k", 12_000), ("j", 5_000), ("k", 3_000), ("k10", 4_000)]
    task.add_records(tp, [_rec("in", 0, i, ts, k, "v") for i, (k, ts) in enumerate(events)])
    while task.process(0):
        pass
    w = task.get_state_store("w")
    assert w.persistent()
    assert w.fetch("k", 0) == 2
    assert [(kv.key, kv.value) for kv in w.fetch("k", 0, 20_000)] == [(0, 2), (10_000, 1)]
    assert [(kv.key, kv.value) for kv in w.backward_fetch("k", 0, 20_000)] == [(10_000, 1), (0, 2)]
    assert [(kv.key.key, kv.key.window.start, kv.value) for kv in w.fetch("j", "k", 0, 20_000)] == [
        ("j", 0, 1),
        ("k", 0, 2),
        ("k", 10_000, 1),
    ]
    assert len(list(w.all())) == 4
    task.close(clean=True)


def test_caching_forwards_one_update_per_key_and_window_per_commit() -> None:
    b = StreamsBuilder()
    grouped = b.stream("in", Consumed.with_(S, S)).group_by_key()
    grouped.count(Materialized.as_("kv")).to_stream().to("kv-out", Produced.with_(S, L))
    grouped.windowed_by(TimeWindows.of_size_with_no_grace(timedelta(seconds=10))).count(
        Materialized.as_("win")
    ).to_stream().to("win-out")
    tp = TopicPartition("in", 0)
    task = StreamTask(
        TaskId(0, 0), b.build(), {tp}, {"statestore.cache.max.bytes": 1 << 20}, APP, None
    )
    keys = ["a", "b", "a", "a", "b"]
    task.add_records(tp, [_rec("in", 0, i, 1000 + i, k, "v") for i, k in enumerate(keys)])
    while task.process(0):
        pass
    assert [o for o in task.drain_outputs() if o.topic in ("kv-out", "win-out")] == []  # all cached
    task.prepare_commit()
    outs = task.drain_outputs()
    kv = [(o.key, int.from_bytes(o.value, "big"), o.timestamp) for o in outs if o.topic == "kv-out"]
    assert kv == [(b"a", 3, 1003), (b"b", 2, 1004)]
    win = [(o.key[:-8], int.from_bytes(o.value, "big")) for o in outs if o.topic == "win-out"]
    assert win == [(b"a", 3), (b"b", 2)]
    # the changelog also gets one record per key at the flush
    assert len([o for o in outs if o.topic == "app-kv-changelog"]) == 2
    assert len([o for o in outs if o.topic == "app-win-changelog"]) == 2


def test_small_cache_evicts_and_forwards_before_the_commit() -> None:
    tp = TopicPartition("in", 0)
    task = StreamTask(
        TaskId(0, 0),
        _count_topology(Materialized.IN_MEMORY),
        {tp},
        {"statestore.cache.max.bytes": 150},
        APP,
        None,
    )
    task.add_records(tp, [_rec("in", 0, i, i, f"k{i}", "v") for i in range(5)])
    while task.process(0):
        pass
    evicted = [o.key for o in task.drain_outputs() if o.topic == "out"]
    assert 0 < len(evicted) < 5  # the oldest entries were flushed when the cache filled up
    task.prepare_commit()
    rest = [o.key for o in task.drain_outputs() if o.topic == "out"]
    assert evicted + rest == [f"k{i}".encode() for i in range(5)]


def test_stream_partitioner_uses_the_partition_count_the_runtime_provides() -> None:
    b = StreamsBuilder()
    b.stream("in", Consumed.with_(S, S)).to(
        "out", Produced.with_(S, S, lambda topic, k, v, n: len(k) % n)
    )
    tp = TopicPartition("in", 0)
    task = StreamTask(TaskId(0, 0), b.build(), {tp}, {}, APP, None)
    task.add_records(tp, [_rec("in", 0, 0, 1, "abcde", "v")])
    task.process(0)
    assert task.drain_outputs()[0].partition is None  # count unknown: partitioned by key downstream
    task.partition_counts["out"] = 3
    task.add_records(tp, [_rec("in", 0, 1, 2, "abcde", "v")])
    task.process(0)
    assert task.drain_outputs()[0].partition == 2
