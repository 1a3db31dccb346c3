"""Static proof, for mypy only, that every handler module is a `Handler` of its typed request.

Nothing here runs: the imports sit under TYPE_CHECKING, so handler modules still load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riverlog.broker.handlers import (
        Handler,
        add_offsets_to_txn,
        add_partitions_to_txn,
        alter_client_quotas,
        alter_configs,
        alter_partition_reassignments,
        alter_user_scram_credentials,
        api_versions,
        consumer_group_describe,
        consumer_group_heartbeat,
        create_acls,
        create_partitions,
        create_topics,
        delete_acls,
        delete_groups,
        delete_records,
        delete_topics,
        describe_acls,
        describe_client_quotas,
        describe_cluster,
        describe_configs,
        describe_groups,
        describe_log_dirs,
        describe_producers,
        describe_topic_partitions,
        describe_transactions,
        describe_user_scram_credentials,
        elect_leaders,
        end_txn,
        fetch,
        find_coordinator,
        heartbeat,
        incremental_alter_configs,
        init_producer_id,
        join_group,
        leave_group,
        list_groups,
        list_offsets,
        list_partition_reassignments,
        list_transactions,
        metadata,
        offset_commit,
        offset_delete,
        offset_fetch,
        offset_for_leader_epoch,
        produce,
        sasl_authenticate,
        sasl_handshake,
        sync_group,
        txn_offset_commit,
        write_txn_markers,
    )
    from riverlog.protocol import messages as m
    from riverlog.protocol.produce_request import ProduceRequest

    _produce: Handler[ProduceRequest] = produce
    _fetch: Handler[m.fetch.FetchRequest] = fetch
    _list_offsets: Handler[m.list_offsets.ListOffsetsRequest] = list_offsets
    _metadata: Handler[m.metadata.MetadataRequest] = metadata
    _offset_commit: Handler[m.offset_commit.OffsetCommitRequest] = offset_commit
    _offset_fetch: Handler[m.offset_fetch.OffsetFetchRequest] = offset_fetch
    _find_coordinator: Handler[m.find_coordinator.FindCoordinatorRequest] = find_coordinator
    _join_group: Handler[m.join_group.JoinGroupRequest] = join_group
    _heartbeat: Handler[m.heartbeat.HeartbeatRequest] = heartbeat
    _leave_group: Handler[m.leave_group.LeaveGroupRequest] = leave_group
    _sync_group: Handler[m.sync_group.SyncGroupRequest] = sync_group
    _describe_groups: Handler[m.describe_groups.DescribeGroupsRequest] = describe_groups
    _list_groups: Handler[m.list_groups.ListGroupsRequest] = list_groups
    _sasl_handshake: Handler[m.sasl_handshake.SaslHandshakeRequest] = sasl_handshake
    _api_versions: Handler[m.api_versions.ApiVersionsRequest] = api_versions
    _create_topics: Handler[m.create_topics.CreateTopicsRequest] = create_topics
    _delete_topics: Handler[m.delete_topics.DeleteTopicsRequest] = delete_topics
    _delete_records: Handler[m.delete_records.DeleteRecordsRequest] = delete_records
    _init_producer_id: Handler[m.init_producer_id.InitProducerIdRequest] = init_producer_id
    _offset_for_leader_epoch: Handler[m.offset_for_leader_epoch.OffsetForLeaderEpochRequest] = (
        offset_for_leader_epoch
    )
    _add_partitions_to_txn: Handler[m.add_partitions_to_txn.AddPartitionsToTxnRequest] = (
        add_partitions_to_txn
    )
    _add_offsets_to_txn: Handler[m.add_offsets_to_txn.AddOffsetsToTxnRequest] = add_offsets_to_txn
    _end_txn: Handler[m.end_txn.EndTxnRequest] = end_txn
    _write_txn_markers: Handler[m.write_txn_markers.WriteTxnMarkersRequest] = write_txn_markers
    _txn_offset_commit: Handler[m.txn_offset_commit.TxnOffsetCommitRequest] = txn_offset_commit
    _describe_acls: Handler[m.describe_acls.DescribeAclsRequest] = describe_acls
    _create_acls: Handler[m.create_acls.CreateAclsRequest] = create_acls
    _delete_acls: Handler[m.delete_acls.DeleteAclsRequest] = delete_acls
    _describe_configs: Handler[m.describe_configs.DescribeConfigsRequest] = describe_configs
    _alter_configs: Handler[m.alter_configs.AlterConfigsRequest] = alter_configs
    _describe_log_dirs: Handler[m.describe_log_dirs.DescribeLogDirsRequest] = describe_log_dirs
    _sasl_authenticate: Handler[m.sasl_authenticate.SaslAuthenticateRequest] = sasl_authenticate
    _create_partitions: Handler[m.create_partitions.CreatePartitionsRequest] = create_partitions
    _delete_groups: Handler[m.delete_groups.DeleteGroupsRequest] = delete_groups
    _elect_leaders: Handler[m.elect_leaders.ElectLeadersRequest] = elect_leaders
    _incremental_alter_configs: Handler[
        m.incremental_alter_configs.IncrementalAlterConfigsRequest
    ] = incremental_alter_configs
    _alter_partition_reassignments: Handler[
        m.alter_partition_reassignments.AlterPartitionReassignmentsRequest
    ] = alter_partition_reassignments
    _list_partition_reassignments: Handler[
        m.list_partition_reassignments.ListPartitionReassignmentsRequest
    ] = list_partition_reassignments
    _offset_delete: Handler[m.offset_delete.OffsetDeleteRequest] = offset_delete
    _describe_client_quotas: Handler[m.describe_client_quotas.DescribeClientQuotasRequest] = (
        describe_client_quotas
    )
    _alter_client_quotas: Handler[m.alter_client_quotas.AlterClientQuotasRequest] = (
        alter_client_quotas
    )
    _describe_user_scram_credentials: Handler[
        m.describe_user_scram_credentials.DescribeUserScramCredentialsRequest
    ] = describe_user_scram_credentials
    _alter_user_scram_credentials: Handler[
        m.alter_user_scram_credentials.AlterUserScramCredentialsRequest
    ] = alter_user_scram_credentials
    _describe_cluster: Handler[m.describe_cluster.DescribeClusterRequest] = describe_cluster
    _describe_producers: Handler[m.describe_producers.DescribeProducersRequest] = describe_producers
    _describe_transactions: Handler[m.describe_transactions.DescribeTransactionsRequest] = (
        describe_transactions
    )
    _list_transactions: Handler[m.list_transactions.ListTransactionsRequest] = list_transactions
    _consumer_group_heartbeat: Handler[m.consumer_group_heartbeat.ConsumerGroupHeartbeatRequest] = (
        consumer_group_heartbeat
    )
    _consumer_group_describe: Handler[m.consumer_group_describe.ConsumerGroupDescribeRequest] = (
        consumer_group_describe
    )
    _describe_topic_partitions: Handler[
        m.describe_topic_partitions.DescribeTopicPartitionsRequest
    ] = describe_topic_partitions
