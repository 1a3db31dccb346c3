"""One module per Kafka API; `ALL_HANDLERS` is what the broker serves and advertises.

Handler modules are imported when a request of their API first arrives, not at start-up: the group and
transaction handlers alone pull in the coordinators, and a broker should accept connections first.
`HANDLERS` lists, as data, each module with the API key and version range it declares, which is what
ApiVersions advertises; tests/unit/broker/test_handler_table.py checks every entry against its module's
own `API_KEY`, `MIN_VERSION` and `MAX_VERSION`. To add a handler, add its module here.

Each module is a `riverlog.broker.network.handler.Handler`: those constants, its typed request
(`REQUEST`) and `async def handle(ctx, request)`; handlers/_typecheck.py proves it to mypy.
"""

from __future__ import annotations

from riverlog.broker.network.handler import Answer, Handler, HandlerSpec

__all__ = ["ALL_HANDLERS", "HANDLERS", "Answer", "Handler", "HandlerSpec"]

HANDLERS: tuple[HandlerSpec, ...] = (
    HandlerSpec("produce", 0, 3, 12),
    HandlerSpec("fetch", 1, 4, 17),
    HandlerSpec("list_offsets", 2, 1, 10),
    HandlerSpec("metadata", 3, 0, 13),
    HandlerSpec("offset_commit", 8, 2, 9),
    HandlerSpec("offset_fetch", 9, 1, 9),
    HandlerSpec("find_coordinator", 10, 0, 6),
    HandlerSpec("join_group", 11, 0, 9),
    HandlerSpec("heartbeat", 12, 0, 4),
    HandlerSpec("leave_group", 13, 0, 5),
    HandlerSpec("sync_group", 14, 0, 5),
    HandlerSpec("describe_groups", 15, 0, 5),
    HandlerSpec("list_groups", 16, 0, 5),
    HandlerSpec("sasl_handshake", 17, 0, 1),
    HandlerSpec("api_versions", 18, 0, 4),
    HandlerSpec("create_topics", 19, 2, 7),
    HandlerSpec("delete_topics", 20, 1, 6),
    HandlerSpec("delete_records", 21, 0, 2),
    HandlerSpec("init_producer_id", 22, 0, 5),
    HandlerSpec("offset_for_leader_epoch", 23, 2, 4),
    HandlerSpec("add_partitions_to_txn", 24, 0, 5),
    HandlerSpec("add_offsets_to_txn", 25, 0, 4),
    HandlerSpec("end_txn", 26, 0, 5),
    HandlerSpec("write_txn_markers", 27, 1, 2),
    HandlerSpec("txn_offset_commit", 28, 0, 5),
    HandlerSpec("describe_acls", 29, 0, 3),
    HandlerSpec("create_acls", 30, 0, 3),
    HandlerSpec("delete_acls", 31, 0, 3),
    HandlerSpec("describe_configs", 32, 1, 4),
    HandlerSpec("alter_configs", 33, 0, 2),
    HandlerSpec("describe_log_dirs", 35, 1, 4),
    HandlerSpec("sasl_authenticate", 36, 0, 2),
    HandlerSpec("create_partitions", 37, 0, 3),
    HandlerSpec("delete_groups", 42, 0, 2),
    HandlerSpec("elect_leaders", 43, 0, 2),
    HandlerSpec("incremental_alter_configs", 44, 0, 1),
    HandlerSpec("alter_partition_reassignments", 45, 0, 0),
    HandlerSpec("list_partition_reassignments", 46, 0, 0),
    HandlerSpec("offset_delete", 47, 0, 0),
    HandlerSpec("describe_client_quotas", 48, 0, 1),
    HandlerSpec("alter_client_quotas", 49, 0, 1),
    HandlerSpec("describe_user_scram_credentials", 50, 0, 0),
    HandlerSpec("alter_user_scram_credentials", 51, 0, 0),
    HandlerSpec("describe_cluster", 60, 0, 2),
    HandlerSpec("describe_producers", 61, 0, 0),
    HandlerSpec("describe_transactions", 65, 0, 0),
    HandlerSpec("list_transactions", 66, 0, 2),
    HandlerSpec("consumer_group_heartbeat", 68, 0, 1),
    HandlerSpec("consumer_group_describe", 69, 0, 1),
    HandlerSpec("describe_topic_partitions", 75, 0, 0),
)

ALL_HANDLERS: list[HandlerSpec] = list(HANDLERS)
