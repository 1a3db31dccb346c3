"""One module per Kafka API; `ALL_HANDLERS` is what the broker serves and advertises."""

from __future__ import annotations

from types import ModuleType

from riverlog.broker.handlers import (
    api_versions,
    fetch,
    init_producer_id,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    produce,
)

ALL_HANDLERS: list[ModuleType] = [
    produce,
    fetch,
    list_offsets,
    metadata,
    api_versions,
    init_producer_id,
    offset_for_leader_epoch,
]
