"""Where an append went: below the validator, the log and the storage errors, which all name it."""

from __future__ import annotations

from typing import NamedTuple


class AppendResult(NamedTuple):
    """Where an append went (Kafka's LogAppendInfo, the parts a produce response needs)."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time_ms: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    records_count: int
    valid_bytes: int
