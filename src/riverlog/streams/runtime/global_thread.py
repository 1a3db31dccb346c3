"""The global stream thread: fills the instance's global stores (`builder.global_table`) from every
partition of their topics before any stream thread starts, then keeps them up to date.

Invariants: `bootstrap()` returns only once every partition of every global topic has been read up
to the end offset it had when bootstrapping began (so a stream record never joins a table that is
still loading); afterwards one daemon thread applies new records until `close()`. Consumer offsets
are never committed: the position of persistent stores is their `.checkpoint` file
(`state.dir/<application.id>/global/.checkpoint`, Kafka's format), written after the stores are
made durable every `commit.interval.ms` and on close; each start reads from it (see
`riverlog.streams.state.global_store`). `positions` is the next offset per partition reflected in
the stores.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.streams.config import StreamsConfig
from riverlog.streams.errors import StreamsException
from riverlog.streams.records import TopicPartition
from riverlog.streams.serdes import Serde, resolve_serde
from riverlog.streams.state.global_store import apply, locked_map, make_global_store
from riverlog.streams.state_manager import CHECKPOINT, read_checkpoint, write_checkpoint
from riverlog.streams.topology import Topology

log = logging.getLogger("riverlog.streams")


class GlobalStreamThread:
    def __init__(self, topology: Topology, config: StreamsConfig) -> None:
        self.topology = topology
        self.config = config
        self.stores: dict[str, Any] = {}  # topic -> store
        self.positions: dict[TopicPartition, int] = {}
        self.restored = 0  # records applied while bootstrapping (a metric for tests and logs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self.error: BaseException | None = None
        state_dir = config.values.get("state.dir")
        self.directory = (
            None if state_dir is None else Path(str(state_dir)) / config.application_id / "global"
        )
        self._persistent = str(config.values.get("default.dsl.store", "rocksDB")).lower() != (
            "in_memory"
        )
        self._commit_interval_s = int(config.values.get("commit.interval.ms") or 30000) / 1000

    def _serde(self, serde: Serde[Any] | None, key: str) -> Serde[Any]:
        out = serde or resolve_serde(self.config.values.get(key), key)
        if out is None:
            raise StreamsException(f"a global table needs serdes: set them in Consumed or {key}")
        return out

    def _open_stores(self) -> bool:
        """Create the stores; True if every one of them is persistent (so checkpoints apply)."""
        all_persistent = True
        for name, spec in self.topology.global_store_specs.items():
            if spec.persistent is None:
                spec.persistent = self._persistent
            all_persistent &= bool(spec.persistent)
            store = make_global_store(
                spec,
                self._serde(spec.key_serde, "default.key.serde"),
                self._serde(spec.value_serde, "default.value.serde"),
                self.directory,
            )
            self.topology.global_state[name] = store
            self.stores[spec.topic] = store
        return all_persistent and self.directory is not None

    def _wipe(self) -> None:
        for store in self.stores.values():
            locked_map(store).wipe()

    def bootstrap(self, timeout_s: float = 300.0) -> None:
        checkpointed = self._open_stores()
        offsets = (
            read_checkpoint(self.directory / CHECKPOINT)
            if checkpointed and self.directory is not None
            else {}
        )
        prefix = self.config.client_id_prefix()
        conf = self.config.global_consumer_configs(f"{prefix}-global-consumer")
        consumer = self._consumer = Consumer(conf)
        partitions: list[tuple[str, int, int, int]] = []  # topic, partition, low, high
        for topic in self.stores:
            meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise StreamsException(f"Global source topic {topic} is missing")
            for p in meta.partitions:
                lo, hi = consumer.get_watermark_offsets(KafkaTopicPartition(topic, p), timeout=30)
                partitions.append((topic, p, lo, hi))
        # 1. a persistent store without a usable checkpoint is reloaded from the beginning
        usable = bool(offsets) and all(
            lo <= offsets.get(TopicPartition(t, p), lo) <= hi for t, p, lo, hi in partitions
        )
        if not usable:
            if offsets or checkpointed:
                self._wipe()
            offsets = {}
        # 2. read every partition from its position up to its end offset at this moment
        assignment: list[KafkaTopicPartition] = []
        ends: dict[KafkaTopicPartition, int] = {}
        for t, p, lo, hi in partitions:
            start = offsets.get(TopicPartition(t, p))
            self.positions[TopicPartition(t, p)] = start if start is not None else lo
            tp = KafkaTopicPartition(t, p, OFFSET_BEGINNING if start is None else start)
            assignment.append(tp)
            if hi > (start or 0):
                ends[KafkaTopicPartition(t, p)] = hi
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise StreamsException(f"global tables not loaded within {timeout_s} s: {ends}")
            self.restored += self._consume(consumer, 1000, 0.2)
            # positions, not offsets: a transaction marker may be a partition's last offset
            for tp in consumer.position(list(ends)):
                if (
                    tp.offset >= 0
                    and tp.offset >= ends[KafkaTopicPartition(tp.topic, tp.partition)]
                ):
                    del ends[KafkaTopicPartition(tp.topic, tp.partition)]
        log.info(
            "global tables loaded: %d records from %s (from %s)",
            self.restored,
            sorted(self.stores),
            "the checkpoint" if offsets else "the beginning",
        )
        self._maybe_checkpoint()
        self._thread = threading.Thread(target=self._run, name=f"{prefix}-GlobalStreamThread")
        self._thread.daemon = True
        self._thread.start()

    def _consume(self, consumer: Consumer, n: int, timeout: float) -> int:
        applied = 0
        for m in consumer.consume(n, timeout):
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("global consumer: %s", err.str())
                continue
            topic, partition, offset = m.topic() or "", m.partition() or 0, m.offset() or 0
            apply(self.stores[topic], m.key(), m.value(), m.timestamp()[1])
            self.positions[TopicPartition(topic, partition)] = offset + 1
            applied += 1
        return applied

    def _maybe_checkpoint(self) -> None:
        """Make the persistent stores durable, then record the positions they reflect."""
        if self.directory is None or not all(
            s.layer.inner.persistent for s in self.stores.values()
        ):
            return
        for store in self.stores.values():
            locked_map(store).persist()
        write_checkpoint(self.directory / CHECKPOINT, dict(self.positions))

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_checkpoint = time.monotonic() + self._commit_interval_s
        try:
            while not self._stop.is_set():
                self._consume(consumer, 500, 0.1)
                if time.monotonic() >= next_checkpoint:
                    self._maybe_checkpoint()
                    next_checkpoint = time.monotonic() + self._commit_interval_s
        except BaseException as exc:  # keep the cause for the client; the stores stop updating
            self.error = exc
            log.exception("global stream thread failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        if self._consumer is not None:
            try:
                if self.error is None and self.positions:
                    self._maybe_checkpoint()
            finally:
                for store in self.stores.values():
                    store.close()
                self._consumer.close()
                self._consumer = None
