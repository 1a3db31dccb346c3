"""Compaction's record-level rules as pure functions over bytes (Kafka's Cleaner + filterTo).

Nothing here touches files, clocks or the log: a function takes a chunk of whole record batches
(copied out of a segment) plus the round's state and returns bytes or counts. That is why the
cleaner may run these on a worker thread (see cleaner.py for exactly what is safe).

Offset map (`OffsetMap`, Kafka's SkimpyOffsetMap): key -> offset of its latest record in the
dirty section, plus `latest_offset`, the last offset the map covers. Kafka stores 16-byte MD5
hashes; we store the keys themselves (no collisions) and bound memory by an estimate of what
each entry costs (`len(key) + ENTRY_OVERHEAD` bytes), like `log.cleaner.dedupe.buffer.size`.

Transactions (`CleanedTransactionMetadata`, Kafka's class of that name): walking batches in
offset order, a batch of an aborted transaction is discardable; an ABORT marker is kept until
a cleaning pass sees none of its transaction's batches (then it may go, like a tombstone, after
the delete horizon); a COMMIT marker likewise once none of its transaction's batches remain.

Per batch (`filter_batch`, Kafka's LogCleaner RecordFilter + MemoryRecords.filterTo):
- a record survives when it is past the map (`offset > latest_offset`), or has a key whose
  latest offset it holds and either has a value or is a tombstone whose batch has no delete
  horizon yet / a horizon still in the future; records without a key are dropped;
- a control batch keeps its record unless it is discardable and its horizon has passed;
- a batch that ends up empty is dropped, except (RETAIN_EMPTY) the last batch of an active
  producer (its sequence/epoch must stay: "retain empty batch for producer state") and the batch
  that ends the cleaning round; those keep a 61-byte header with no records;
- a batch whose records all survive is copied byte for byte, unless it holds tombstones or is
  a discardable marker and has no delete horizon yet: then (KIP-534) it is rebuilt with the
  `has_delete_horizon` attribute and base timestamp = now + delete.retention.ms;
- a rebuilt batch keeps its base offset, last offset delta (so the producer's last sequence is
  unchanged), codec, timestamp type, producer id/epoch, base sequence, transactional/control
  flags and partition leader epoch; only `records_count`, the records and the CRC change.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from crc32c import crc32c

from riverlog.protocol.compression import compress, decompress
from riverlog.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CONTROL_ABORT,
    CONTROL_COMMIT,
    RECORD_BATCH_OVERHEAD,
    BatchHeader,
    iter_batches,
)
from riverlog.protocol.varint import read_varint, read_varlong, write_varint, write_varlong
from riverlog.storage.errors import CorruptRecordError
from riverlog.storage.txn_index import AbortedTxn

Buffer = bytes | bytearray | memoryview

ENTRY_OVERHEAD = 100  # bytes a dict entry costs beside its key (slot, bytes and int objects)
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CONTROL_KEY = struct.Struct(">hh")
_UINT32 = struct.Struct(">I")
_DELETE_HORIZON_BIT = 0x40
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08


class OffsetMap:
    """Key -> latest offset over the dirty section, bounded by an estimated memory budget."""

    __slots__ = ("_offsets", "capacity_bytes", "latest_offset", "used_bytes")

    def __init__(self, capacity_bytes: int) -> None:
        self._offsets: dict[bytes, int] = {}
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self.latest_offset = -1

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def full(self) -> bool:
        return self.used_bytes >= self.capacity_bytes

    def put(self, key: bytes, offset: int) -> None:
        if key not in self._offsets:
            self.used_bytes += len(key) + ENTRY_OVERHEAD
        self._offsets[key] = offset
        self.latest_offset = offset

    def get(self, key: bytes) -> int:
        """The key's latest offset, -1 when the map has not seen it."""
        return self._offsets.get(key, -1)


class LastRecord(NamedTuple):
    """An active producer's last data offset (None after a marker-only history) and epoch."""

    last_data_offset: int | None
    producer_epoch: int


@dataclass(slots=True)
class _AbortedTxnState:
    txn: AbortedTxn
    last_observed_batch_offset: int | None = None


class CleanedTransactionMetadata:
    """Transaction state while walking batches in offset order (Kafka's class of that name)."""

    def __init__(self, aborted: Sequence[AbortedTxn]) -> None:
        self._aborted = sorted(aborted, key=lambda t: t.first_offset, reverse=True)  # a stack
        self._ongoing_committed: set[int] = set()
        self._ongoing_aborted: dict[int, _AbortedTxnState] = {}
        self.cleaned_index: list[AbortedTxn] | None = None  # entries for the cleaned segment

    def _consume_aborted_up_to(self, offset: int) -> None:
        while self._aborted and self._aborted[-1].first_offset <= offset:
            txn = self._aborted.pop()
            self._ongoing_aborted.setdefault(txn.producer_id, _AbortedTxnState(txn))

    def on_batch_read(self, header: BatchHeader) -> bool:
        """A data batch was read; whether it belongs to an aborted transaction."""
        self._consume_aborted_up_to(header.last_offset)
        if not header.is_transactional:
            return False
        state = self._ongoing_aborted.get(header.producer_id)
        if state is not None:
            state.last_observed_batch_offset = header.last_offset
            return True
        self._ongoing_committed.add(header.producer_id)
        return False

    def on_control_batch_read(self, header: BatchHeader, control_type: int | None) -> bool:
        """A control batch was read (`control_type` None when it has no record left); whether
        the marker may be discarded (after its horizon)."""
        self._consume_aborted_up_to(header.last_offset)
        if control_type is None:
            return True  # an empty control batch was cleaned before
        pid = header.producer_id
        if control_type == CONTROL_ABORT:
            state = self._ongoing_aborted.pop(pid, None)
            if state is not None and state.last_observed_batch_offset is not None:
                # Keep the marker until every batch of the transaction is gone.
                if self.cleaned_index is not None:
                    self.cleaned_index.append(state.txn)
                return False
            return True
        if control_type == CONTROL_COMMIT:
            if pid in self._ongoing_committed:
                self._ongoing_committed.discard(pid)
                return False
            return True
        return False


# --- scanning records ----------------------------------------------------------------------------

# A record as the cleaner sees it: (offset, stored timestamp, key, is a tombstone, start of its
# offset-delta field, end) in the batch's (decompressed) records section. Values and headers are
# never decoded: a kept record is copied from its offset-delta field on.
Scanned = tuple[int, int, bytes | None, bool, int, int]


def records_section(buf: Buffer, pos: int, header: BatchHeader) -> Buffer:
    """The batch's records, decompressed."""
    section = memoryview(buf)[pos + BATCH_HEADER_SIZE : pos + header.size]
    return decompress(header.compression, section) if header.compression else section


def scan_records(section: Buffer, header: BatchHeader) -> list[Scanned]:
    """Every record of a batch's records section (see `Scanned`); CorruptRecordError when the
    section does not hold exactly `records_count` well-formed records."""
    try:
        return _scan(section, header.base_offset, header.base_timestamp, header.records_count)
    except IndexError:
        raise CorruptRecordError(f"truncated record in batch {header.base_offset}") from None


def _scan(section: Buffer, base_offset: int, base_ts: int, count: int) -> list[Scanned]:
    out: list[Scanned] = []
    size, pos, varint = len(section), 0, _varint
    for _ in range(count):
        length, pos = varint(section, pos)
        end = pos + length
        if length < 2 or end > size:
            raise CorruptRecordError(f"bad record length {length} in batch {base_offset}")
        ts_delta, rest = _varlong(section, pos + 1)  # after the attributes byte
        offset_delta, pos = varint(section, rest)
        key_length, pos = varint(section, pos)
        key = None
        if key_length >= 0:
            key = bytes(section[pos : pos + key_length])
            pos += key_length
        value_length, pos = varint(section, pos)
        if pos + max(value_length, 0) > end:
            raise CorruptRecordError(f"record at offset delta {offset_delta} overruns its length")
        out.append(
            (base_offset + offset_delta, base_ts + ts_delta, key, value_length < 0, rest, end)
        )
        pos = end
    if pos != size:
        raise CorruptRecordError(f"{size - pos} bytes after the last record of batch {base_offset}")
    return out


def _varint(buf: Buffer, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:  # one or two bytes: lengths and deltas below 8192, the common cases
        return (byte >> 1) ^ -(byte & 1), pos + 1
    second = buf[pos + 1]
    if second < 0x80:
        raw = (byte & 0x7F) | (second << 7)
        return (raw >> 1) ^ -(raw & 1), pos + 2
    return read_varint(buf, pos)


def _varlong(buf: Buffer, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    return read_varlong(buf, pos)


def control_type(buf: Buffer, pos: int, header: BatchHeader) -> int | None:
    """A control batch's record type (0 abort, 1 commit, -1 unreadable), None when empty."""
    if header.records_count == 0:
        return None
    section = records_section(buf, pos, header)
    scanned = scan_records(section, header)
    key = scanned[0][2] if scanned else None
    if key is None or len(key) < _CONTROL_KEY.size:
        return -1
    return int(_CONTROL_KEY.unpack_from(key)[1])


# --- building the offset map ---------------------------------------------------------------------


def map_batches(
    chunk: Buffer, start_offset: int, offset_map: OffsetMap, txns: CleanedTransactionMetadata
) -> tuple[int, int, bool]:
    """Add the keys of the whole batches in `chunk` to the map (records at or after
    `start_offset`, not aborted, not control). Returns (bytes read, records read, map full);
    when the map fills up, reading stops at that record (Kafka's buildOffsetMapForSegment)."""
    read_bytes = read_records = 0
    put = offset_map.put
    for pos, header in iter_batches(chunk):
        if header.is_control:
            txns.on_control_batch_read(header, control_type(chunk, pos, header))
        elif not txns.on_batch_read(header):
            for offset, _, key, _, _, _ in scan_records(
                records_section(chunk, pos, header), header
            ):
                if key is not None and offset >= start_offset:
                    if offset_map.full:
                        return read_bytes, read_records, True
                    put(key, offset)
                read_records += 1
        if header.last_offset >= start_offset:
            offset_map.latest_offset = header.last_offset
        read_bytes = pos + header.size
    return read_bytes, read_records, False


# --- filtering a chunk ---------------------------------------------------------------------------


class BatchRetention(enum.Enum):
    DELETE = "delete"  # drop the batch whatever its records
    DELETE_EMPTY = "delete-empty"  # drop it only if no record survives
    RETAIN_EMPTY = "retain-empty"  # keep at least its header


@dataclass(slots=True)
class FilterContext:
    """What `filter_batch` decides with; the round owns it."""

    offset_map: OffsetMap
    txns: CleanedTransactionMetadata
    last_records: Mapping[int, LastRecord]
    upper_bound_offset: int  # the first offset this cleaning round does not clean
    now_ms: int
    delete_retention_ms: int


@dataclass(slots=True)
class FilterStats:
    batches_read: int = 0
    records_read: int = 0
    records_retained: int = 0
    bytes_read: int = 0
    bytes_retained: int = 0
    tombstones_dropped: int = 0


def filter_batches(chunk: Buffer, ctx: FilterContext, stats: FilterStats) -> bytearray:
    """The surviving batches of `chunk` (whole batches), rebuilt where records were dropped."""
    out = bytearray()
    for pos, header in iter_batches(chunk):
        kept = filter_batch(chunk, pos, header, ctx, stats)
        stats.batches_read += 1
        stats.bytes_read += header.size
        if kept is not None:
            out += kept
            stats.bytes_retained += len(kept)
    return out


def filter_batch(
    buf: Buffer, pos: int, header: BatchHeader, ctx: FilterContext, stats: FilterStats
) -> Buffer | None:
    """The batch at `pos` after compaction: its own bytes, a rebuilt batch, or None (dropped)."""
    section = records_section(buf, pos, header)
    records = scan_records(section, header)
    stats.records_read += len(records)
    horizon = header.base_timestamp if header.has_delete_horizon else None
    # 1. Transactions decide whether the batch as a whole may go.
    if header.is_control:
        kind = control_type(buf, pos, header)
        can_discard = ctx.txns.on_control_batch_read(header, kind)
        discard_records = can_discard and horizon is not None and horizon <= ctx.now_ms
    else:
        can_discard = discard_records = ctx.txns.on_batch_read(header)
    retention = _batch_retention(header, discard_records, ctx)
    if retention is BatchRetention.DELETE:
        return None
    # 2. Records: all, none, or those the offset map says are latest.
    if discard_records:
        retained: list[Scanned] = []
    elif header.is_control:
        retained = records
    else:
        retained = _retained_records(records, horizon, ctx, stats)
    stats.records_retained += len(retained)
    # 3. Write: as is, rebuilt (fewer records or a new delete horizon), empty, or nothing.
    if retained:
        marker_for_empty_txn = can_discard and header.is_control
        tombstones = any(r[3] for r in retained)
        needs_horizon = (tombstones or marker_for_empty_txn) and horizon is None
        if len(retained) == len(records) and not needs_horizon:
            return memoryview(buf)[pos : pos + header.size]
        if needs_horizon:
            horizon = ctx.now_ms + ctx.delete_retention_ms
        return rebuild_batch(header, section, retained, horizon)
    if retention is BatchRetention.RETAIN_EMPTY:
        return empty_batch(header)
    return None


def _batch_retention(
    header: BatchHeader, discard_records: bool, ctx: FilterContext
) -> BatchRetention:
    if header.producer_id >= 0 and _is_last_batch_of_producer(header, ctx.last_records):
        return BatchRetention.RETAIN_EMPTY
    if header.next_offset == ctx.upper_bound_offset:
        # Kafka keeps the round's last batch, even empty, so its last offset is not lost.
        return BatchRetention.RETAIN_EMPTY
    return BatchRetention.DELETE if discard_records else BatchRetention.DELETE_EMPTY


def _is_last_batch_of_producer(header: BatchHeader, last_records: Mapping[int, LastRecord]) -> bool:
    last = last_records.get(header.producer_id)
    if last is None:
        return False
    if last.last_data_offset is not None:
        return header.last_offset == last.last_data_offset
    # The producer's last entry is a marker: keep it, it carries the epoch that fences zombies.
    return header.is_control and header.producer_epoch == last.producer_epoch


def _retained_records(
    records: list[Scanned], horizon: int | None, ctx: FilterContext, stats: FilterStats
) -> list[Scanned]:
    """The records the offset map says are latest (tombstones until the batch's horizon)."""
    offset_map = ctx.offset_map
    latest, get = offset_map.latest_offset, offset_map.get
    keep_tombstones = horizon is None or ctx.now_ms < horizon
    kept = []
    for record in records:
        offset, _, key, tombstone, _, _ = record
        if offset > latest:
            kept.append(record)  # beyond what this round mapped: not ours to judge
        elif key is None or offset < get(key):
            continue  # no key (invalid on a compacted topic) or superseded
        elif not tombstone or keep_tombstones:
            kept.append(record)
        else:
            stats.tombstones_dropped += 1
    return kept


# --- writing batches -----------------------------------------------------------------------------


def rebuild_batch(
    header: BatchHeader, section: Buffer, records: Sequence[Scanned], delete_horizon: int | None
) -> bytes:
    """`header`'s batch rebuilt with `records` (a non-empty subset of its own, offsets kept).

    The base timestamp is the delete horizon when one is given (KIP-534), else the first
    record's; each record gets its timestamp delta again relative to it (so readers see the
    same timestamps) and keeps the rest of its bytes (offset delta, key, value, headers)."""
    base_ts = delete_horizon if delete_horizon is not None else records[0][1]
    out = bytearray()
    for _, timestamp, _, _, rest, end in records:
        delta = bytearray(b"\x00")  # record attributes (unused in v2), then the timestamp delta
        write_varlong(delta, timestamp - base_ts)
        write_varint(out, len(delta) + end - rest)
        out += delta
        out += section[rest:end]
    codec = header.compression
    body = compress(codec, out) if codec else out
    # LogAppendTime batches keep their append time; CreateTime ones the largest kept timestamp.
    log_append_time = header.timestamp_type == 1
    max_ts = header.max_timestamp if log_append_time else max(r[1] for r in records)
    attributes = header.attributes & ~_DELETE_HORIZON_BIT
    if delete_horizon is not None:
        attributes |= _DELETE_HORIZON_BIT
    return _pack_batch(header, attributes, base_ts, max_ts, len(records), body)


def empty_batch(header: BatchHeader) -> bytes:
    """A header-only batch keeping `header`'s offsets and producer fields (Kafka's
    writeEmptyHeader): no records, no codec, no delete horizon, base timestamp -1."""
    attributes = header.attributes & ~(_CODEC_MASK | _DELETE_HORIZON_BIT)
    return _pack_batch(header, attributes, -1, header.max_timestamp, 0, b"")


def _pack_batch(
    header: BatchHeader, attributes: int, base_ts: int, max_ts: int, count: int, body: Buffer
) -> bytes:
    batch = bytearray(BATCH_HEADER_SIZE)
    batch += body
    _HEADER.pack_into(
        batch, 0, header.base_offset, len(batch) - RECORD_BATCH_OVERHEAD,
        header.partition_leader_epoch, header.magic, 0, attributes, header.last_offset_delta,
        base_ts, max_ts, header.producer_id, header.producer_epoch, header.base_sequence, count,
    )  # fmt: skip
    with memoryview(batch) as view:
        crc = crc32c(view[ATTRIBUTES_OFFSET:])
    _UINT32.pack_into(batch, 17, crc)
    return bytes(batch)
