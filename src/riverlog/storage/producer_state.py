"""ProducerStateManager: per-partition producer ids, open transactions and their snapshots.

State: `producers` (producer id -> ProducerStateEntry, see producer_append.py), `ongoing`
transactions (first offset -> producer id), `unreplicated` completed transactions whose marker
is not yet below the high watermark, and `map_end_offset`, the log offset the state is built up
to. The first unstable offset is the least first offset among ongoing and unreplicated
transactions; the log's last stable offset is min(first unstable offset, high watermark).

Snapshots: `<offset:020d>.snapshot` in the partition directory holds the state as of log offset
`offset` (taken on segment roll and on close). Format, Kafka's ProducerSnapshot v1, big-endian::

    version int16 (1) | crc uint32 (CRC32C of everything after it) | count int32 |
    count x (producer id int64, epoch int16, last sequence int32, last offset int64,
             offset delta int32, timestamp int64, coordinator epoch int32,
             current txn first offset int64 (-1 = none))

Only each producer's last batch is stored, as in Kafka, so after a restart duplicate detection
covers that batch plus whatever is replayed from the log after the snapshot.

Crash behaviour: snapshots are written temp + fsync + rename, so a file is whole or absent; a
file that fails its CRC is deleted with a warning and an older one is used. On open the log
loads the latest snapshot at or below its end offset (`truncate_and_reload`) and replays the
batches after it (`replay_batch`), so producer state is always consistent with the log.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

from crc32c import crc32c

from riverlog.protocol.records import BatchHeader, decode_records
from riverlog.storage.checkpoint import write_atomically
from riverlog.storage.errors import CorruptRecordError
from riverlog.storage.producer_append import (
    AppendOrigin,
    CompletedTxn,
    ProducerAppendInfo,
    ProducerStateEntry,
    in_sequence,
)

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snapshot"
_SNAPSHOT_VERSION = 1
_HEADER = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
_ENTRY = struct.Struct(">qhiqiqiq")
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def read_end_txn_marker(
    buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader
) -> tuple[bool, int] | None:
    """(is_commit, coordinator epoch) of a control batch; None for an empty (cleaned) one."""
    records = decode_records(buf, pos, header)
    if not records:
        return None
    key, value = records[0].key, records[0].value
    if (
        key is None
        or len(key) < _CONTROL_KEY.size
        or value is None
        or len(value) < _CONTROL_VALUE.size
    ):
        raise CorruptRecordError(f"Invalid transaction marker at offset {header.base_offset}")
    _, control_type = _CONTROL_KEY.unpack_from(key)
    _, coordinator_epoch = _CONTROL_VALUE.unpack_from(value)
    if control_type not in (0, 1):
        raise CorruptRecordError(f"Unknown control record type {control_type}")
    return control_type == 1, coordinator_epoch


class ProducerStateManager:
    """Producer ids and transactions of one partition, with snapshot files."""

    def __init__(self, directory: Path, producer_id_expiration_ms: int) -> None:
        self.directory = directory
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producers: dict[int, ProducerStateEntry] = {}
        self.ongoing: dict[int, int] = {}  # first offset -> producer id
        self.unreplicated: dict[int, CompletedTxn] = {}  # first offset -> txn
        self.map_end_offset = 0

    # --- queries ---------------------------------------------------------------------------------

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self.producers.get(producer_id)

    @property
    def first_unstable_offset(self) -> int | None:
        """Least first offset of an ongoing or not-yet-replicated transaction."""
        candidates = [*self.ongoing, *self.unreplicated]
        return min(candidates) if candidates else None

    def last_stable_offset_for(self, txn: CompletedTxn) -> int:
        """The LSO right after `txn` completes: the next other open transaction, or past it."""
        others = [first for first, pid in self.ongoing.items() if pid != txn.producer_id]
        return min(others) if others else txn.last_offset + 1

    # --- updates ---------------------------------------------------------------------------------

    def in_sequence_entry(
        self, producer_id: int, epoch: int, first_seq: int
    ) -> ProducerStateEntry | None:
        """The producer's entry when a non-transactional batch (epoch, first_seq) is plainly the
        next one: known producer, same epoch, no open transaction, sequence follows. Such a
        batch passes every ProducerAppendInfo rule and cannot be a duplicate, so the append hot
        path may just `add_batch` to the entry after writing. None: take the general path."""
        entry = self.producers.get(producer_id)
        if (
            entry is None
            or entry.producer_epoch != epoch
            or entry.current_txn_first_offset is not None
            or not entry.batches
            or not in_sequence(entry.batches[-1].last_seq, first_seq)
        ):
            return None
        return entry

    def prepare_update(self, producer_id: int, origin: AppendOrigin) -> ProducerAppendInfo:
        current = self.producers.get(producer_id) or ProducerStateEntry(producer_id)
        return ProducerAppendInfo(producer_id, current, origin)

    def update(self, info: ProducerAppendInfo) -> None:
        """Make a validated append's producer state current."""
        entry = self.producers.get(info.producer_id)
        if entry is None:
            entry = self.producers[info.producer_id] = ProducerStateEntry(info.producer_id)
        entry.merge(info.updated)
        for first_offset in info.started_txns:
            self.ongoing[first_offset] = info.producer_id

    def complete_txn(self, txn: CompletedTxn) -> None:
        """A marker was written: the transaction is no longer open."""
        if self.ongoing.pop(txn.first_offset, None) is None:
            log.debug("Completed transaction at %d was not ongoing", txn.first_offset)
        self.unreplicated[txn.first_offset] = txn

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """Forget completed transactions whose marker is below the high watermark."""
        self._remove_unreplicated(high_watermark)

    def on_log_start_offset_incremented(self, log_start_offset: int) -> None:
        self._remove_unreplicated(log_start_offset)
        self.map_end_offset = max(self.map_end_offset, log_start_offset)

    def _remove_unreplicated(self, offset: int) -> None:
        if self.unreplicated:
            done = [first for first, txn in self.unreplicated.items() if txn.last_offset < offset]
            for first in done:
                del self.unreplicated[first]

    def replay_batch(
        self, header: BatchHeader, buf: bytes | bytearray | memoryview, pos: int
    ) -> CompletedTxn | None:
        """Rebuild state from a batch already in the log; returns the txn it completed."""
        if header.producer_id < 0:
            return None
        info = self.prepare_update(header.producer_id, AppendOrigin.REPLICATION)
        completed = None
        if header.is_control:
            marker = read_end_txn_marker(buf, pos, header)
            if marker is not None:
                completed = info.append_end_txn_marker(
                    marker[0],
                    marker[1],
                    header.producer_epoch,
                    header.base_offset,
                    header.max_timestamp,
                )
        else:
            info.append_data_batch(
                header.producer_epoch,
                header.base_sequence,
                header.last_sequence,
                header.max_timestamp,
                header.base_offset,
                header.last_offset,
                header.is_transactional,
            )
        self.update(info)
        return completed

    def remove_expired_producers(self, now_ms: int) -> None:
        """Forget producers idle for producer.id.expiration.ms with no open transaction."""
        expired = [pid for pid, entry in self.producers.items() if self._is_expired(entry, now_ms)]
        for pid in expired:
            del self.producers[pid]

    def _is_expired(self, entry: ProducerStateEntry, now_ms: int) -> bool:
        return (
            entry.current_txn_first_offset is None
            and now_ms - entry.last_timestamp >= self.producer_id_expiration_ms
        )

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Forget everything (the log was emptied) and delete every snapshot."""
        self._clear()
        for path in self.snapshot_files():
            path.unlink(missing_ok=True)
        self.map_end_offset = offset

    def _clear(self) -> None:
        self.producers.clear()
        self.ongoing.clear()
        self.unreplicated.clear()

    # --- snapshots -------------------------------------------------------------------------------

    def snapshot_files(self) -> list[Path]:
        """Snapshot files, oldest first."""
        return sorted(self.directory.glob("*" + SNAPSHOT_SUFFIX))

    def snapshot_offsets(self) -> list[int]:
        offsets = []
        for path in self.snapshot_files():
            try:
                offsets.append(int(path.name[: -len(SNAPSHOT_SUFFIX)]))
            except ValueError:
                continue
        return offsets

    def take_snapshot(self) -> Path:
        """Write the state as of `map_end_offset` (skipped if that snapshot exists)."""
        path = snapshot_path(self.directory, self.map_end_offset)
        if path.exists():
            return path
        body = bytearray(_COUNT.pack(len(self.producers)))
        for entry in self.producers.values():
            last = entry.batches[-1] if entry.batches else None
            body += _ENTRY.pack(
                entry.producer_id,
                entry.producer_epoch,
                last.last_seq if last else -1,
                last.last_offset if last else -1,
                last.offset_delta if last else 0,
                entry.last_timestamp,
                entry.coordinator_epoch,
                -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset,
            )
        write_atomically(path, _HEADER.pack(_SNAPSHOT_VERSION, crc32c(body)) + bytes(body))
        return path

    def delete_snapshots_before(self, offset: int) -> None:
        for snap in self.snapshot_offsets():
            if snap < offset:
                snapshot_path(self.directory, snap).unlink(missing_ok=True)

    def truncate_and_reload(self, log_start_offset: int, end_offset: int, now_ms: int) -> None:
        """Reset to the latest usable snapshot at or below `end_offset`.

        Snapshots above `end_offset` or below the log start offset are deleted.
        Afterwards `map_end_offset` is where replay must start (the snapshot's offset, or the
        log start offset when there is none); the caller replays up to `end_offset`.
        """
        for snap in self.snapshot_offsets():
            if snap > end_offset or snap < log_start_offset:
                snapshot_path(self.directory, snap).unlink(missing_ok=True)
        self._clear()
        self.map_end_offset = log_start_offset
        for snap in reversed(self.snapshot_offsets()):
            if self._load_snapshot(snap, now_ms):
                self.map_end_offset = snap
                return

    def _load_snapshot(self, offset: int, now_ms: int) -> bool:
        path = snapshot_path(self.directory, offset)
        try:
            entries = self._read_snapshot(path)
        except (OSError, ValueError, struct.error) as exc:
            log.warning("Deleting corrupt producer snapshot %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return False
        for entry in entries:
            if not self._is_expired(entry, now_ms):
                self.producers[entry.producer_id] = entry
                if entry.current_txn_first_offset is not None:
                    self.ongoing[entry.current_txn_first_offset] = entry.producer_id
        return True

    @staticmethod
    def _read_snapshot(path: Path) -> list[ProducerStateEntry]:
        data = path.read_bytes()
        version, crc = _HEADER.unpack_from(data)
        if version != _SNAPSHOT_VERSION:
            raise ValueError(f"unknown snapshot version {version}")
        body = memoryview(data)[_HEADER.size :]
        if crc32c(body) != crc:
            raise ValueError("CRC mismatch")
        (count,) = _COUNT.unpack_from(body)
        if len(body) != _COUNT.size + count * _ENTRY.size:
            raise ValueError(f"expected {count} entries")
        entries = []
        for pid, epoch, last_seq, last_offset, delta, ts, coord, txn in _ENTRY.iter_unpack(
            body[_COUNT.size :]
        ):
            entry = ProducerStateEntry(pid, epoch, coord, ts, None if txn < 0 else txn)
            if last_offset >= 0:
                entry.add_batch(epoch, last_seq, last_offset, delta, ts)
            entries.append(entry)
        return entries
