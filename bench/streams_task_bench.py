"""Streams task-core benchmark (issue 11): word count through two `StreamTask`s, no broker.

    .venv/bin/python -m bench.streams_task_bench [--lines 20000] [--cache BYTES] [--rocksdb] [--profile]

Measures the CPU cost of the sans-I/O core alone — what is left for the runtime's Kafka I/O — so the
task code can be profiled before optimising. Sub-topology 0 (split lines, select the word as key,
repartition sink) and sub-topology 1 (repartition source, count, to-stream sink) run as separate
tasks; the repartition records of task 0 are handed to task 1 in batches of 1,000 lines, and task 1
commits (flushing its cache) after each batch. Lines have 10 words drawn from 5,000 (seeded).
Throughput is words per CPU-second (`time.process_time`, so other processes on the machine do not
distort it). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time

from riverlog.streams import Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder
from riverlog.streams.records import InputRecord, TaskId, TopicPartition
from riverlog.streams.task import StreamTask
from riverlog.streams.topology import Topology

APP = "wordcount"
BATCH = 1000


def wordcount(store_type: str) -> Topology:
    builder = StreamsBuilder()
    lines = builder.stream("text-input", Consumed.with_(Serdes.String(), Serdes.String()))
    (
        lines.flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts").with_store_type(store_type))
        .to_stream()
        .to("word-counts", Produced.with_(Serdes.String(), Serdes.Long()))
    )
    return builder.build()


def run(n_lines: int, cache: int, rocksdb: bool) -> tuple[float, int, int]:
    """(CPU seconds, words, output records)."""
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(5000)]
    raw = [" ".join(rng.choice(vocab) for _ in range(10)).encode() for _ in range(n_lines)]
    records = [InputRecord("text-input", 0, i, i, None, v, []) for i, v in enumerate(raw)]
    store_type = Materialized.ROCKS_DB if rocksdb else Materialized.IN_MEMORY
    topo = wordcount(store_type)
    config = {"statestore.cache.max.bytes": cache}
    state_dir = tempfile.mkdtemp() if rocksdb else None
    tp_in = TopicPartition("text-input", 0)
    tp_rep = TopicPartition(f"{APP}-counts-repartition", 0)
    split = StreamTask(TaskId(0, 0), topo, {tp_in}, config, APP, state_dir)
    count = StreamTask(TaskId(1, 0), topo, {tp_rep}, config, APP, state_dir)
    outputs = 0
    offset = 0
    start = time.process_time()
    for i in range(0, n_lines, BATCH):
        split.add_records(tp_in, records[i : i + BATCH])
        while split.process_batch(0, BATCH):
            pass
        split.prepare_commit()
        rep = []
        for o in split.drain_outputs():
            rep.append(InputRecord(o.topic, 0, offset, o.timestamp, o.key, o.value, o.headers))
            offset += 1
        count.add_records(tp_rep, rep)
        while count.process_batch(0, BATCH):
            pass
        count.prepare_commit()
        outputs += sum(1 for o in count.drain_outputs() if o.topic == "word-counts")
    elapsed = time.process_time() - start
    split.close(clean=True)
    count.close(clean=True)
    return elapsed, n_lines * 10, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--cache", type=int, default=0, help="statestore.cache.max.bytes")
    ap.add_argument("--rocksdb", action="store_true", help="RocksDB store (default: in memory)")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile run")
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    cpu, words, outputs = run(args.lines, args.cache, args.rocksdb)
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    store = "rocksdb" if args.rocksdb else "in-memory"
    print(
        f"word count, task core only: {words:,} words, {store} store, cache {args.cache} B: "
        f"{cpu:.2f} CPU-s, {words / cpu:,.0f} words/CPU-s, {outputs:,} count updates out"
    )


if __name__ == "__main__":
    main()
