"""The global stream thread: fills the instance's global stores (`builder.global_table`) from every
partition of their topics before any stream thread starts, then keeps them up to date.

Invariants: `bootstrap()` returns only once every partition of every global topic has been read up
to the high watermark it had when bootstrapping began (so a stream record never joins a table that
is still loading); afterwards one daemon thread applies new records until `close()`; offsets are
never committed (every start reloads from the beginning: the stores are in memory).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError
from confluent_kafka import TopicPartition as KafkaTopicPartition

from riverlog.streams.config import StreamsConfig
from riverlog.streams.errors import StreamsException
from riverlog.streams.serdes import Serde, resolve_serde
from riverlog.streams.state.global_store import apply, make_global_store
from riverlog.streams.topology import Topology

log = logging.getLogger("riverlog.streams")


class GlobalStreamThread:
    def __init__(self, topology: Topology, config: StreamsConfig) -> None:
        self.topology = topology
        self.config = config
        self.stores: dict[str, Any] = {}  # topic -> store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self.error: BaseException | None = None

    def _serde(self, serde: Serde[Any] | None, key: str) -> Serde[Any]:
        out = serde or resolve_serde(self.config.values.get(key), key)
        if out is None:
            raise StreamsException(f"a global table needs serdes: set them in Consumed or {key}")
        return out

    def bootstrap(self, timeout_s: float = 300.0) -> None:
        specs = self.topology.global_store_specs
        for name, spec in specs.items():
            store = make_global_store(
                spec,
                self._serde(spec.key_serde, "default.key.serde"),
                self._serde(spec.value_serde, "default.value.serde"),
            )
            self.topology.global_state[name] = store
            self.stores[spec.topic] = store
        prefix = self.config.client_id_prefix()
        conf = self.config.restore_consumer_configs(f"{prefix}-global-consumer")
        conf["group.id"] = f"{self.config.application_id}-global"
        consumer = self._consumer = Consumer(conf)
        assignment: list[KafkaTopicPartition] = []
        for topic in self.stores:
            meta = consumer.list_topics(topic, timeout=30).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise StreamsException(f"Global source topic {topic} is missing")
            assignment += [KafkaTopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        ends: dict[tuple[str, int], int] = {}
        for tp in assignment:
            lo, hi = consumer.get_watermark_offsets(
                KafkaTopicPartition(tp.topic, tp.partition), timeout=30
            )
            if hi > lo:
                ends[(tp.topic, tp.partition)] = hi
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        loaded = 0
        while ends:
            if time.monotonic() > deadline:
                raise StreamsException(f"global tables not loaded within {timeout_s} s: {ends}")
            for m in consumer.consume(1000, 0.2):
                err = m.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("global consumer: %s", err.str())
                    continue
                self._apply(m)
                loaded += 1
                key = (m.topic() or "", m.partition() or 0)
                if key in ends and (m.offset() or 0) + 1 >= ends[key]:
                    del ends[key]
        log.info("global tables loaded: %d records from %s", loaded, sorted(self.stores))
        self._thread = threading.Thread(target=self._run, name=f"{prefix}-GlobalStreamThread")
        self._thread.daemon = True
        self._thread.start()

    def _apply(self, m: Any) -> None:
        ts = m.timestamp()[1]
        apply(self.stores[m.topic()], m.key(), m.value(), ts)

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while not self._stop.is_set():
                for m in consumer.consume(500, 0.1):
                    if m.error() is None:
                        self._apply(m)
        except BaseException as exc:  # keep the cause for the client; the stores stop updating
            self.error = exc
            log.exception("global stream thread failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
