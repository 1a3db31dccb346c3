"""The ACL matrix on the wire for the APIs the client libraries do not expose well: each request is
sent by a principal without ACLs (denied with Kafka's error) and by a super user (not denied), over a
real SASL_PLAINTEXT connection to an authorizing broker."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from riverlog.broker.replication.peer import PeerConnection, PeerSecurity
from riverlog.broker.responses import request_schema
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_admin="admin-secret" user_bob="bob-secret";'
)
CLUSTER_DENIED, TOPIC_DENIED, GROUP_DENIED, TXN_DENIED = 31, 29, 30, 53
TIMEOUT = datetime.timedelta(seconds=5)


@pytest.fixture(scope="module")
def wire_broker(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin;User:ANONYMOUS",
    }
    with RunningBroker(tmp_path_factory.mktemp("wire"), config=config) as running:
        admin = AdminClient({"bootstrap.servers": running.bootstrap_servers})
        running.topic = f"wire-{uuid.uuid4().hex[:6]}"  # type: ignore[attr-defined]
        admin.create_topics([NewTopic(running.topic, 1, 1)])[running.topic].result(timeout=10)  # type: ignore[attr-defined]
        yield running


def call(broker: RunningBroker, user: str, request: Any) -> Any:
    security = PeerSecurity(None, "PLAIN", user, f"{user}-secret")

    async def run() -> Any:
        connection = PeerConnection(
            "127.0.0.1", broker.listener_port("SASL_PLAINTEXT"), 20, security
        )
        try:
            return await connection.request(request)
        finally:
            connection.close()

    return asyncio.run(run())


def codes(value: Any) -> set[int]:
    """Every error code anywhere in a response."""
    found: set[int] = set()
    if isinstance(value, tuple | list):
        for item in value:
            found |= codes(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            item = getattr(value, name)
            if name == "error_code":
                found.add(int(item.value))
            else:
                found |= codes(item)
    return found


def s(api: int, version: int) -> Any:
    return request_schema(api, version)


Case = tuple[str, Callable[[str], Any], int]
CASES: list[Case] = [
    ("DescribeLogDirs", lambda t: s(35, 3).DescribeLogDirsRequest(topics=None), CLUSTER_DENIED),
    (
        "ElectLeaders",
        lambda t: s(43, 1).ElectLeadersRequest(
            election_type=0,
            topic_partitions=(s(43, 1).TopicPartitions(topic=t, partitions=(0,)),),
            timeout=TIMEOUT,
        ),
        CLUSTER_DENIED,
    ),
    (
        "ListPartitionReassignments",
        lambda t: s(46, 0).ListPartitionReassignmentsRequest(timeout=TIMEOUT, topics=None),
        CLUSTER_DENIED,
    ),
    (
        "WriteTxnMarkers",
        lambda t: s(27, 1).WriteTxnMarkersRequest(
            markers=(
                s(27, 1).WritableTxnMarker(
                    producer_id=1,
                    producer_epoch=0,
                    transaction_result=False,
                    topics=(s(27, 1).WritableTxnMarkerTopic(name=t, partition_indexes=(0,)),),
                    coordinator_epoch=0,
                ),
            )
        ),
        CLUSTER_DENIED,
    ),
    (
        "DescribeConfigs(topic)",
        lambda t: s(32, 1).DescribeConfigsRequest(
            resources=(
                s(32, 1).DescribeConfigsResource(
                    resource_type=2, resource_name=t, configuration_keys=None
                ),
            )
        ),
        TOPIC_DENIED,
    ),
    (
        "DescribeConfigs(broker)",
        lambda t: s(32, 1).DescribeConfigsRequest(
            resources=(
                s(32, 1).DescribeConfigsResource(
                    resource_type=4, resource_name="0", configuration_keys=None
                ),
            )
        ),
        CLUSTER_DENIED,
    ),
    (
        "DeleteRecords",
        lambda t: s(21, 0).DeleteRecordsRequest(
            topics=(
                s(21, 0).DeleteRecordsTopic(
                    name=t,
                    partitions=(s(21, 0).DeleteRecordsPartition(partition_index=0, offset=0),),
                ),
            ),
            timeout=TIMEOUT,
        ),
        TOPIC_DENIED,
    ),
    (
        "OffsetDelete",
        lambda t: s(47, 0).OffsetDeleteRequest(group_id="g", topics=()),
        GROUP_DENIED,
    ),
    (
        "DescribeProducers",
        lambda t: s(61, 0).DescribeProducersRequest(
            topics=(s(61, 0).TopicRequest(name=t, partition_indexes=(0,)),)
        ),
        TOPIC_DENIED,
    ),
    (
        "AddPartitionsToTxn(v4, broker to broker)",
        lambda t: s(24, 4).AddPartitionsToTxnRequest(
            transactions=(
                s(24, 4).AddPartitionsToTxnTransaction(
                    transactional_id="tx",
                    producer_id=1,
                    producer_epoch=0,
                    verify_only=True,
                    topics=(s(24, 4).AddPartitionsToTxnTopic(name=t, partitions=(0,)),),
                ),
            )
        ),
        CLUSTER_DENIED,
    ),
    (
        "DescribeTransactions",
        lambda t: s(65, 0).DescribeTransactionsRequest(transactional_ids=("tx",)),
        TXN_DENIED,
    ),
]


@pytest.mark.parametrize(("name", "build", "denied"), CASES, ids=[c[0] for c in CASES])
def test_denied_without_acls_and_allowed_for_a_super_user(
    wire_broker: RunningBroker, name: str, build: Callable[[str], Any], denied: int
) -> None:
    topic = wire_broker.topic  # type: ignore[attr-defined]
    assert denied in codes(call(wire_broker, "bob", build(topic)))
    assert denied not in codes(call(wire_broker, "admin", build(topic)))


def test_cluster_authorized_operations_follow_the_acls(wire_broker: RunningBroker) -> None:
    request = s(60, 0).DescribeClusterRequest(include_cluster_authorized_operations=True)
    assert call(wire_broker, "bob", request).cluster_authorized_operations == 0
    everything = call(wire_broker, "admin", request).cluster_authorized_operations
    assert everything & (1 << 7) and everything & (1 << 8)  # ALTER and DESCRIBE for a super user


def allow(broker: RunningBroker, rtype: ResourceType, name: str, op: AclOperation) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    binding = AclBinding(
        rtype, name, ResourcePatternType.LITERAL, "User:bob", "*", op, AclPermissionType.ALLOW
    )
    admin.create_acls([binding])[binding].result(timeout=10)


def test_offset_fetch_hides_or_denies_topics_the_principal_may_not_describe(
    wire_broker: RunningBroker,
) -> None:
    seen, hidden, group = (f"of-{uuid.uuid4().hex[:6]}" for _ in range(3))
    admin = AdminClient({"bootstrap.servers": wire_broker.bootstrap_servers})
    for future in admin.create_topics([NewTopic(seen, 1, 1), NewTopic(hidden, 1, 1)]).values():
        future.result(timeout=10)
    committer = Consumer(
        {"bootstrap.servers": wire_broker.bootstrap_servers, "group.id": group}
    )  # PLAINTEXT: ANONYMOUS is a super user
    committer.commit(
        offsets=[TopicPartition(seen, 0, 5), TopicPartition(hidden, 0, 7)], asynchronous=False
    )
    committer.close()
    allow(wire_broker, ResourceType.GROUP, group, AclOperation.DESCRIBE)
    allow(wire_broker, ResourceType.TOPIC, seen, AclOperation.DESCRIBE)
    of = s(9, 7)
    named = of.OffsetFetchRequest(
        group_id=group,
        topics=(
            of.OffsetFetchRequestTopic(name=seen, partition_indexes=(0,)),
            of.OffsetFetchRequestTopic(name=hidden, partition_indexes=(0,)),
        ),
        require_stable=False,
    )
    answer = {
        t.name: [(p.committed_offset, int(p.error_code.value)) for p in t.partitions]
        for t in call(wire_broker, "bob", named).topics
    }
    assert answer == {seen: [(5, 0)], hidden: [(-1, TOPIC_DENIED)]}
    every = of.OffsetFetchRequest(group_id=group, topics=None, require_stable=False)
    assert [t.name for t in call(wire_broker, "bob", every).topics] == [seen]
    assert {t.name for t in call(wire_broker, "admin", every).topics} == {seen, hidden}


def test_describe_groups_reports_the_principals_operations_on_the_group(
    wire_broker: RunningBroker,
) -> None:
    group = f"dg-{uuid.uuid4().hex[:6]}"
    allow(wire_broker, ResourceType.GROUP, group, AclOperation.READ)
    request = s(15, 5).DescribeGroupsRequest(groups=(group,), include_authorized_operations=True)
    (described,) = call(wire_broker, "bob", request).groups
    # READ implies DESCRIBE: bits 3 (READ) and 8 (DESCRIBE) of Kafka's AclOperation codes
    assert described.authorized_operations == (1 << 3) | (1 << 8)
    (everything,) = call(wire_broker, "admin", request).groups
    assert everything.authorized_operations & (1 << 6)  # DELETE for a super user
    (denied,) = call(
        wire_broker,
        "bob",
        s(15, 5).DescribeGroupsRequest(
            groups=("nobody-" + group,), include_authorized_operations=True
        ),
    ).groups
    assert int(denied.error_code.value) == GROUP_DENIED


def test_offset_delete_needs_read_on_each_topic(wire_broker: RunningBroker) -> None:
    group, topic = f"od-{uuid.uuid4().hex[:6]}", wire_broker.topic  # type: ignore[attr-defined]
    committer = Consumer({"bootstrap.servers": wire_broker.bootstrap_servers, "group.id": group})
    committer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    committer.close()
    allow(wire_broker, ResourceType.GROUP, group, AclOperation.DELETE)
    od = s(47, 0)
    request = od.OffsetDeleteRequest(
        group_id=group,
        topics=(
            od.OffsetDeleteRequestTopic(
                name=topic, partitions=(od.OffsetDeleteRequestPartition(partition_index=0),)
            ),
        ),
    )
    response = call(wire_broker, "bob", request)
    assert int(response.error_code.value) == 0  # the group is allowed; the topic is not
    assert [int(p.error_code.value) for t in response.topics for p in t.partitions] == [
        TOPIC_DENIED
    ]
    assert TOPIC_DENIED not in codes(call(wire_broker, "admin", request))


def test_txn_offset_commit_needs_read_on_each_topic(wire_broker: RunningBroker) -> None:
    group, txn = f"to-{uuid.uuid4().hex[:6]}", f"tx-{uuid.uuid4().hex[:6]}"
    topic = wire_broker.topic  # type: ignore[attr-defined]
    allow(wire_broker, ResourceType.GROUP, group, AclOperation.READ)
    allow(wire_broker, ResourceType.TRANSACTIONAL_ID, txn, AclOperation.WRITE)
    tc = s(28, 3)
    request = tc.TxnOffsetCommitRequest(
        transactional_id=txn,
        group_id=group,
        producer_id=1,
        producer_epoch=0,
        generation_id=-1,
        member_id="",
        group_instance_id=None,
        topics=(
            tc.TxnOffsetCommitRequestTopic(
                name=topic,
                partitions=(
                    tc.TxnOffsetCommitRequestPartition(
                        partition_index=0,
                        committed_offset=1,
                        committed_leader_epoch=-1,
                        committed_metadata="",
                    ),
                ),
            ),
        ),
    )
    assert codes(call(wire_broker, "bob", request)) == {TOPIC_DENIED}
    allow(wire_broker, ResourceType.TOPIC, topic, AclOperation.READ)
    assert TOPIC_DENIED not in codes(call(wire_broker, "bob", request))


def test_consumer_group_describe_reports_the_principals_operations(
    wire_broker: RunningBroker,
) -> None:
    group, topic = f"cg-{uuid.uuid4().hex[:6]}", wire_broker.topic  # type: ignore[attr-defined]
    member = Consumer(
        {
            "bootstrap.servers": wire_broker.bootstrap_servers,
            "group.id": group,
            "group.protocol": "consumer",
        }
    )
    try:
        member.subscribe([topic])
        for _ in range(100):
            member.poll(0.1)
            if member.assignment():
                break
        assert member.assignment()
        allow(wire_broker, ResourceType.GROUP, group, AclOperation.DESCRIBE)
        request = s(69, 0).ConsumerGroupDescribeRequest(
            group_ids=(group,), include_authorized_operations=True
        )
        (described,) = call(wire_broker, "bob", request).groups
        assert int(described.error_code.value) == 0
        assert described.authorized_operations == 1 << 8  # DESCRIBE only
    finally:
        member.close()
