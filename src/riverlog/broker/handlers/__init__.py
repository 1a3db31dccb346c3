"""One module per Kafka API; `ALL_HANDLERS` is what the broker serves and advertises."""

from __future__ import annotations

from types import ModuleType

from riverlog.broker.handlers import (
    alter_configs,
    api_versions,
    create_partitions,
    create_topics,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_log_dirs,
    fetch,
    incremental_alter_configs,
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
    create_topics,
    delete_topics,
    delete_records,
    describe_configs,
    alter_configs,
    describe_log_dirs,
    create_partitions,
    incremental_alter_configs,
    describe_cluster,
]
