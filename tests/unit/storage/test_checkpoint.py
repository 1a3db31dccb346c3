"""Checkpoint files: Kafka's text format, atomic replacement, strict parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.storage.checkpoint import (
    LeaderEpochCheckpointFile,
    OffsetCheckpointFile,
    write_atomically,
)
from riverlog.storage.errors import KafkaStorageError


def test_offset_checkpoint_format_is_kafkas(tmp_path: Path) -> None:
    path = tmp_path / "recovery-point-offset-checkpoint"
    OffsetCheckpointFile(path).write({("orders", 1): 99, ("orders", 0): 1234})
    assert path.read_text() == "0\n2\norders 0 1234\norders 1 99\n"
    assert OffsetCheckpointFile(path).read() == {("orders", 0): 1234, ("orders", 1): 99}


def test_leader_epoch_checkpoint_format_is_kafkas(tmp_path: Path) -> None:
    path = tmp_path / "leader-epoch-checkpoint"
    LeaderEpochCheckpointFile(path).write([(3, 0), (5, 1200)])
    assert path.read_text() == "0\n2\n3 0\n5 1200\n"
    assert LeaderEpochCheckpointFile(path).read() == [(3, 0), (5, 1200)]


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    assert OffsetCheckpointFile(tmp_path / "nope").read() == {}
    assert LeaderEpochCheckpointFile(tmp_path / "nope").read() == []


def test_write_replaces_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    (tmp_path / "cp.tmp").write_text("half written garbage")  # a crash mid-write
    write_atomically(path, b"0\n0\n")
    assert path.read_bytes() == b"0\n0\n"
    assert not (tmp_path / "cp.tmp").exists()


@pytest.mark.parametrize(
    "text",
    ["", "0\n", "1\n0\n", "0\n2\nt 0 5\n", "0\n1\nt x 5\n", "0\n1\nt 0\n"],
)
def test_malformed_checkpoint_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cp"
    path.write_text(text)
    with pytest.raises(KafkaStorageError, match="cp"):
        OffsetCheckpointFile(path).read()


topics = st.text(alphabet="abcxyz._-", min_size=1, max_size=12)


@given(st.dictionaries(st.tuples(topics, st.integers(0, 1000)), st.integers(0, 2**62)))
def test_offset_checkpoint_round_trips(offsets: dict[tuple[str, int], int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = OffsetCheckpointFile(Path(tmp) / "cp")
        checkpoint.write(offsets)
        assert checkpoint.read() == offsets
