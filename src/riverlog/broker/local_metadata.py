"""Single-node metadata: the cluster image's records kept in a local log, replayed on start.

Format: `<data_dir>/__cluster_metadata-0/` is an ordinary partition log on the storage engine (Kafka's
KRaft uses the same name); each batch holds the JSON-encoded records of one change, appended and fsynced
before the change is applied, so a change is either wholly there after a crash or not at all.
`<data_dir>/meta.properties` holds the cluster id and node id (Kafka's file and keys).
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from riverlog.metadata.image import (
    ClusterImage,
    ImageHolder,
    MetadataRecord,
    ProducerIdsRecord,
    decode_record,
    encode_record,
)
from riverlog.protocol.records import build_batch, decode_records, iter_batches
from riverlog.storage.clock import Clock
from riverlog.storage.config import LogConfig
from riverlog.storage.log import PartitionLog

log = logging.getLogger(__name__)
METADATA_DIR = "__cluster_metadata-0"


def load_or_create_cluster_id(data_dir: Path, node_id: int) -> str:
    """Read `meta.properties`, or write a new one with a fresh cluster id (temp + rename)."""
    path = data_dir / "meta.properties"
    if path.exists():
        values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        if "cluster.id" in values:
            return values["cluster.id"].strip()
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"version=1\nnode.id={node_id}\ncluster.id={cluster_id}\n")
    tmp.replace(path)
    return cluster_id


class LocalMetadataStore:
    keeps_group_configs = True

    def __init__(self, metadata_log: PartitionLog, holder: ImageHolder, clock: Clock) -> None:
        self.log = metadata_log
        self.holder = holder
        self.clock = clock
        self.on_commit: list[Callable[[ClusterImage], None]] = []

    @classmethod
    def open(cls, data_dir: Path, image: ClusterImage, clock: Clock) -> LocalMetadataStore:
        config = LogConfig.from_topic_configs({"cleanup.policy": "delete", "retention.ms": "-1"})
        metadata_log = PartitionLog.open(data_dir / METADATA_DIR, config, clock=clock)
        store = cls(metadata_log, ImageHolder(image), clock)
        store._replay()
        return store

    @property
    def image(self) -> ClusterImage:
        return self.holder.image

    def _replay(self) -> None:
        offset = self.log.log_start_offset
        count = 0
        while offset < self.log.log_end_offset:
            data = self.log.read(offset, 1 << 20).read()
            if not data:
                break
            for pos, header in iter_batches(data, allow_partial_tail=True):
                for record in decode_records(data, pos, header):
                    if record.value is not None:
                        self.holder.apply(decode_record(record.value))
                        count += 1
                offset = header.last_offset + 1
        self.log.high_watermark = self.log.log_end_offset
        log.info("replayed %d metadata records", count)

    def commit(self, records: Sequence[MetadataRecord]) -> ClusterImage:
        """Persist then apply a change; listeners see the new image once."""
        if not records:
            return self.image
        now = self.clock.now_ms()
        batch = build_batch([(None, encode_record(r), (), now) for r in records])
        self.log.append(batch, leader_epoch=0, now_ms=now)
        self.log.flush()
        self.log.high_watermark = self.log.log_end_offset
        for record in records:
            self.holder.apply(record)
        for listener in self.on_commit:
            listener(self.image)
        return self.image

    def allocate_producer_ids(self, count: int) -> int:
        start = self.image.next_producer_id
        self.commit([ProducerIdsRecord(start + count)])
        return start

    def close(self) -> None:
        self.log.close()
