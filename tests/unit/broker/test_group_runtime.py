"""Group -> `__consumer_offsets` partition exactly as Kafka maps it, and append error mapping."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from riverlog.broker.coordinators.groups import append_error, java_string_hashcode, partition_for
from riverlog.storage import errors as storage_errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 97),
        ("hello", 99162322),
        ("test", 3556498),
        ("polygenelubricants", -(2**31)),  # Java's famous Integer.MIN_VALUE hash
        ("\U0001f600", 0xD83D * 31 + 0xDE00),  # hashed as two UTF-16 code units
        ("é", 233),
    ],
)
def test_java_string_hashcode(text: str, expected: int) -> None:
    assert java_string_hashcode(text) == expected


def test_partition_for_follows_kafka_utils_abs() -> None:
    assert partition_for("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) is 0
    assert partition_for("hello", 50) == 99162322 % 50
    negative = "console-consumer-12345"
    code = java_string_hashcode(negative)
    assert partition_for(negative, 7) == abs(code) % 7
    assert all(0 <= partition_for(f"g{i}", 3) < 3 for i in range(100))


def test_append_errors_map_like_kafka() -> None:
    too_large = storage_errors.RecordTooLargeError("big")
    assert append_error(too_large, offsets=True) is ErrorCode.invalid_commit_offset_size
    assert append_error(too_large, offsets=False) is ErrorCode.unknown_server_error
    disk = storage_errors.KafkaStorageError("disk")
    assert append_error(disk, offsets=True) is ErrorCode.not_coordinator
