"""OffsetIndex, TimeIndex and TransactionIndex: lookups, truncation, files, sanity checks."""

from __future__ import annotations

import struct
import tempfile
from bisect import bisect_right
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.storage.index import CorruptIndexError, OffsetIndex, TimeIndex
from riverlog.storage.txn_index import AbortedTxn, TransactionIndex


def test_offset_index_lookup_and_file_format(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 100, 1024)
    assert index.lookup(150) == (100, 0)
    for offset, position in [(110, 400), (130, 900), (170, 2000)]:
        index.append(offset, position)
    assert index.lookup(105) == (100, 0)
    assert index.lookup(110) == (110, 400)
    assert index.lookup(169) == (130, 900)
    assert index.lookup(10_000) == (170, 2000)
    index.write_pending()
    data = (tmp_path / "x.index").read_bytes()
    assert data == struct.pack(">iiiiii", 10, 400, 30, 900, 70, 2000)
    loaded = OffsetIndex.load(tmp_path / "x.index", 100, 1024, log_size=3000)
    assert loaded.entries() == index.entries()


def test_offset_index_truncation_rewrites_file(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 1024)
    for i in range(1, 6):
        index.append(i * 10, i * 100)
    index.write_pending()
    index.truncate_to(30)
    assert index.entries() == [(10, 100), (20, 200)]
    assert (tmp_path / "x.index").stat().st_size == 16
    index.append(25, 250)
    index.write_pending()
    assert OffsetIndex.load(tmp_path / "x.index", 0, 1024, 1000).entries() == [
        (10, 100), (20, 200), (25, 250)
    ]  # fmt: skip


def test_offset_index_rejects_non_increasing_offsets(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 1024)
    index.append(5, 10)
    with pytest.raises(ValueError):
        index.append(5, 20)


def test_offset_index_is_full_by_segment_index_bytes(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 16)
    index.append(1, 1)
    assert not index.is_full
    index.append(2, 2)
    assert index.is_full


@pytest.mark.parametrize(
    ("data", "log_size"),
    [
        (b"\x00" * 7, 100),  # partial entry
        (struct.pack(">iiii", 5, 10, 5, 20), 100),  # offsets not increasing
        (struct.pack(">iiii", 5, 10, 6, 5), 100),  # positions decreasing
        (struct.pack(">ii", 5, 100), 100),  # position past the log
    ],
)
def test_offset_index_sanity_check(tmp_path: Path, data: bytes, log_size: int) -> None:
    path = tmp_path / "x.index"
    path.write_bytes(data)
    with pytest.raises(CorruptIndexError):
        OffsetIndex.load(path, 0, 1024, log_size)


def test_missing_index_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptIndexError, match="missing"):
        OffsetIndex.load(tmp_path / "nope.index", 0, 1024, 10)


def test_time_index_appends_only_increasing_timestamps(tmp_path: Path) -> None:
    index = TimeIndex(tmp_path / "x.timeindex", 0, 1200)
    index.maybe_append(1000, 4)
    index.maybe_append(1000, 9)  # not greater: skipped
    index.maybe_append(900, 12)  # smaller: skipped
    index.maybe_append(-1, 15)  # no timestamp: skipped
    index.maybe_append(2000, 20)
    assert index.entries() == [(1000, 4), (2000, 20)]
    assert index.lookup_before(1000) == (-1, 0)
    assert index.lookup_before(1001) == (1000, 4)
    assert index.lookup_before(5000) == (2000, 20)
    index.write_pending()
    assert (tmp_path / "x.timeindex").read_bytes() == struct.pack(">qiqi", 1000, 4, 2000, 20)
    loaded = TimeIndex.load(tmp_path / "x.timeindex", 0, 1200, next_offset=21)
    assert loaded.entries() == index.entries()
    with pytest.raises(CorruptIndexError):
        TimeIndex.load(tmp_path / "x.timeindex", 0, 1200, next_offset=20)
    index.truncate_to(20)
    assert index.last_entry == (1000, 4)


@given(
    st.lists(st.tuples(st.integers(1, 50), st.integers(1, 500)), max_size=40), st.integers(0, 3000)
)
def test_offset_index_lookup_matches_model(steps: list[tuple[int, int]], target: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index = OffsetIndex(Path(tmp) / "i.index", 7, 10_000)
        model: list[tuple[int, int]] = []
        offset, position = 7, 0
        for offset_step, position_step in steps:
            offset += offset_step
            position += position_step
            index.append(offset, position)
            model.append((offset, position))
        i = bisect_right([o for o, _ in model], target)
        assert index.lookup(target) == (model[i - 1] if i else (7, 0))
        index.rewrite()
        reloaded = OffsetIndex.load(Path(tmp) / "i.index", 7, 10_000, position + 1)
        assert reloaded.entries() == model


def test_txn_index_collects_overlapping_aborts(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "x.txnindex", 0)
    assert not (tmp_path / "x.txnindex").exists()  # created lazily
    index.append(AbortedTxn(1, 0, 10, 11))
    index.append(AbortedTxn(2, 5, 20, 21))
    index.append(AbortedTxn(3, 30, 40, 41))
    found, complete = index.collect_aborted(11, 25)
    assert [t.producer_id for t in found] == [2] and complete  # lso 41 >= 25
    found, complete = index.collect_aborted(0, 100)
    assert [t.producer_id for t in found] == [1, 2, 3] and not complete
    assert (tmp_path / "x.txnindex").stat().st_size == 3 * 34
    assert TransactionIndex.load(tmp_path / "x.txnindex", 0).entries == index.entries
    index.truncate_to(20)
    assert [t.producer_id for t in index.entries] == [1]
    assert TransactionIndex.load(tmp_path / "x.txnindex", 0).entries == index.entries


def test_txn_index_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "x.txnindex").write_bytes(b"\x00" * 33)
    with pytest.raises(CorruptIndexError):
        TransactionIndex.load(tmp_path / "x.txnindex", 0)
