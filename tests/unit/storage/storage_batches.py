"""Record batches for storage tests, built with riverlog.protocol.records."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from riverlog.protocol.records import build_batch, build_control_batch, iter_batches
from riverlog.storage import PartitionLog

BASE_TS = 1_700_000_000_000

LogFactory = Callable[..., PartitionLog]  # the `open_log` fixture (conftest.py)


def batch(
    count: int = 1,
    *,
    ts: int = BASE_TS,
    value: bytes = b"value",
    key: bytes | None = b"key",
    pid: int = -1,
    epoch: int = -1,
    seq: int = -1,
    transactional: bool = False,
    compression: int = 0,
    timestamps: Sequence[int] | None = None,
) -> bytes:
    """A batch of `count` records (timestamps ts, ts+1, ... unless given)."""
    stamps = list(timestamps) if timestamps is not None else [ts + i for i in range(count)]
    records = [(key, value + b"-%d" % i, (), stamp) for i, stamp in enumerate(stamps)]
    return build_batch(
        records,
        compression=compression,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=transactional,
    )


def marker(
    commit: bool, pid: int, epoch: int, coordinator_epoch: int = 0, ts: int = BASE_TS
) -> bytes:
    """A transaction marker (control batch)."""
    return build_control_batch(
        commit,
        base_offset=0,
        producer_id=pid,
        producer_epoch=epoch,
        coordinator_epoch=coordinator_epoch,
        timestamp_ms=ts,
    )


def offsets(data: bytes) -> list[tuple[int, int]]:
    """(base offset, last offset) of every batch in `data`."""
    return [(h.base_offset, h.last_offset) for _, h in iter_batches(data)]


def bases(data: bytes) -> list[int]:
    return [h.base_offset for _, h in iter_batches(data)]
