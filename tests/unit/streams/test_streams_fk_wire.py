"""The foreign-key join's wire formats against Kafka Streams' own: Murmur3 vectors (Kafka's
`Murmur3Test`, plus default-seed values printed by Kafka's `Murmur3.java` compiled with javac),
`SubscriptionWrapper` / `SubscriptionResponseWrapper` / `CombinedKey` bytes laid out as Kafka's serdes
write them, the bytes a topology actually puts on the internal topics, and the (pseudo) topics every
serde is called with (Kafka's `KTableKTableForeignKeyJoinScenarioTest.shouldUseExpectedTopicsWithSerde`)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from riverlog.streams import (
    Consumed,
    Materialized,
    Produced,
    Serdes,
    StreamsBuilder,
    TableJoined,
)
from riverlog.streams.errors import StreamsException
from riverlog.streams.processors.fk_wire import (
    DELETE_KEY_AND_PROPAGATE,
    DELETE_KEY_NO_PROPAGATE,
    PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
    PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE,
    SubscriptionResponseWrapper,
    SubscriptionWrapper,
    combined_key,
    murmur3_hash128,
    split_combined_key,
    value_hash,
)
from riverlog.streams.serdes import Serde
from riverlog.streams.testing import TopologyTestDriver

S, INT = Serdes.String(), Serdes.Integer()

# Kafka's Murmur3Test.testMurmur3_128 (seed 123)
KAFKA_SEED_123 = {
    b"21": (5857341059704281894, -5288187638297930763),
    b"foobar": (-351361463397418609, 8959716011862540668),
    b"a-little-bit-long-string": (8836256500583638442, -198172363548498523),
    b"a-little-bit-longer-string": (1838346159335108511, 8794688210320490705),
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": (
        -4024021876037397259,
        -1482317706335141238,
    ),
    b"abc": (1489494923063836066, -5440978547625122829),
}
# Murmur3.hash128(data) (seed 104729), printed by Kafka's Murmur3.java
KAFKA_DEFAULT_SEED = {
    bytes.fromhex("ffaa0019"): (-3955359579171119721, -1701350710745563829),
    bytes.fromhex("019aff00"): (405462802110629128, -7926469102609330473),
    b"": (-7122613646888064702, -8341524471658347240),
    b"foobar": (-1926091222759195742, 2201308245896195406),
    b"value-1": (-8233469904509722004, 999547378798502311),
    bytes(0x80 + i * 3 for i in range(31)): (462790049883941146, -4768064860224830255),
}


@pytest.mark.parametrize("data", list(KAFKA_SEED_123))
def test_murmur3_hash128_matches_kafka_test_vectors(data: bytes) -> None:
    assert murmur3_hash128(data, 123) == KAFKA_SEED_123[data]


@pytest.mark.parametrize("data", list(KAFKA_DEFAULT_SEED))
def test_murmur3_hash128_default_seed_matches_kafka(data: bytes) -> None:
    assert murmur3_hash128(data) == KAFKA_DEFAULT_SEED[data]
    assert value_hash(data) == struct.pack(">qq", *KAFKA_DEFAULT_SEED[data])


def test_instruction_bytes_are_kafkas() -> None:
    assert (
        DELETE_KEY_NO_PROPAGATE,
        DELETE_KEY_AND_PROPAGATE,
        PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
        PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE,
    ) == (0, 1, 2, 3)


HASH = struct.pack(">qq", *KAFKA_DEFAULT_SEED[bytes.fromhex("ffaa0019")])


def test_subscription_wrapper_v1_bytes() -> None:
    w = SubscriptionWrapper(HASH, DELETE_KEY_AND_PROPAGATE, b"originalKey", 10)
    data = w.serialize()
    # {0 hash-null bit | version 1}{instruction}{16-byte hash}{pk}{int partition}
    assert data == b"\x01\x01" + HASH + b"originalKey" + b"\x00\x00\x00\x0a"
    assert SubscriptionWrapper.deserialize(data) == w


def test_subscription_wrapper_null_hash_sets_the_top_bit() -> None:
    w = SubscriptionWrapper(None, PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, b"originalKey", 10)
    data = w.serialize()
    assert data == b"\x81\x03originalKey\x00\x00\x00\x0a"
    assert SubscriptionWrapper.deserialize(data) == w


def test_subscription_wrapper_v0_has_no_partition() -> None:
    w = SubscriptionWrapper(HASH, DELETE_KEY_AND_PROPAGATE, b"originalKey", None, version=0)
    data = w.serialize()
    assert data == b"\x00\x01" + HASH + b"originalKey"
    back = SubscriptionWrapper.deserialize(data)
    assert (
        back.version == 0 and back.primary_partition is None and back.primary_key == b"originalKey"
    )
    null_v0 = SubscriptionWrapper.deserialize(b"\x80\x03pk")
    assert null_v0.hash is None and null_v0.primary_key == b"pk"


def test_subscription_wrapper_rejects_bad_input() -> None:
    with pytest.raises(StreamsException, match="incompatible version"):
        SubscriptionWrapper.deserialize(b"\x02\x01" + HASH + b"k\x00\x00\x00\x00")
    with pytest.raises(StreamsException, match="Unknown instruction"):
        SubscriptionWrapper.deserialize(b"\x81\x07k\x00\x00\x00\x00")
    with pytest.raises(StreamsException, match="primary partition"):
        SubscriptionWrapper(HASH, 2, b"k").serialize()


def test_subscription_response_wrapper_bytes() -> None:
    full = SubscriptionResponseWrapper(HASH, b"foreignValue")
    assert full.serialize() == b"\x00" + HASH + b"foreignValue"
    assert SubscriptionResponseWrapper.deserialize(full.serialize()) == full
    no_value = SubscriptionResponseWrapper(HASH, None)
    assert no_value.serialize() == b"\x00" + HASH
    assert SubscriptionResponseWrapper.deserialize(no_value.serialize()) == no_value
    no_hash = SubscriptionResponseWrapper(None, b"v")
    assert no_hash.serialize() == b"\x80v"
    assert SubscriptionResponseWrapper.deserialize(b"\x80") == SubscriptionResponseWrapper(
        None, None
    )
    with pytest.raises(StreamsException, match="incompatible version"):
        SubscriptionResponseWrapper.deserialize(b"\x01" + HASH)


def test_combined_key_layout() -> None:
    fk = S.serialize("t", "foreignKey") or b""
    pk = INT.serialize("t", 10) or b""
    ck = combined_key(fk, pk)
    assert ck == b"\x00\x00\x00\x0aforeignKey\x00\x00\x00\x0a"
    assert split_combined_key(ck) == (fk, pk)


class _Recording(Serde[Any]):
    """Kafka's UniqueTopicSerdeScope: the topics a serde serializes non-null data for."""

    def __init__(self, inner: Serde[Any], is_key: bool, seen: set[str]) -> None:
        self.inner, self.is_key, self.seen = inner, is_key, seen

    def serialize(self, topic: str, data: Any) -> bytes | None:
        if data is not None:
            self.seen.add(topic + ("--key" if self.is_key else "--value"))
        return self.inner.serialize(topic, data)

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        return self.inner.deserialize(topic, data)


def test_serdes_see_kafkas_topics_and_pseudo_topics() -> None:
    seen: set[str] = set()
    app = "ktable-ktable-joinOnForeignKey"
    b = StreamsBuilder()
    left = b.table(
        "left_table", Consumed.with_(_Recording(INT, True, seen), _Recording(S, False, seen))
    )
    right = b.table(
        "right_table", Consumed.with_(_Recording(INT, True, seen), _Recording(S, False, seen))
    )
    left.join(
        right,
        lambda v: int(v.split("|")[1]),
        lambda v1, v2: f"({v1},{v2})",
        Materialized.with_(None, _Recording(S, False, seen)),
    ).to_stream().to("output-topic")
    with TopologyTestDriver(b.build(), {"application.id": app}) as driver:
        driver.create_input_topic("left_table", INT, S).pipe_input(2, "lhsValue1|1")
        driver.create_input_topic("right_table", INT, S).pipe_input(1, "rhsValue1")
    sub = f"{app}-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"
    resp = f"{app}-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"
    assert seen == {
        f"{sub}-fk--key",
        f"{sub}-pk--key",
        f"{sub}-vh--value",
        f"{sub}--key",
        f"{resp}--key",
        f"{resp}--value",
        f"{app}-left_table-STATE-STORE-0000000000-changelog--key",
        f"{app}-left_table-STATE-STORE-0000000000-changelog--value",
        f"{app}-right_table-STATE-STORE-0000000003-changelog--key",
        f"{app}-right_table-STATE-STORE-0000000003-changelog--value",
        "output-topic--key",
        "output-topic--value",
    }


def test_internal_topics_carry_kafkas_bytes() -> None:
    b = StreamsBuilder()
    orders = b.table("orders", Consumed.with_(S, S))
    customers = b.table("customers", Consumed.with_(S, S))
    orders.join(customers, lambda o: o.split(":")[0], lambda o, c: f"{o}/{c}").to_stream().to(
        "out", Produced.with_(S, S)
    )
    with TopologyTestDriver(b.build(), {"application.id": "app"}) as driver:
        driver.create_input_topic("customers", S, S).pipe_input("c1", "Ada", 5)
        driver.create_input_topic("orders", S, S).pipe_input("o1", "c1:book", 7)
        sub = driver.outputs["app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"]
        resp = driver.outputs["app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"]
        changelog = driver.outputs[
            "app-KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010-changelog"
        ]
        h = value_hash(b"c1:book")
        assert h is not None
        (s,) = list(sub)
        assert s.key == b"c1"
        # first subscription of an inner join: PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, from partition 0
        assert s.value == b"\x01\x03" + h + b"o1" + b"\x00\x00\x00\x00"
        (c,) = list(changelog)
        assert c.key == b"\x00\x00\x00\x02c1o1" and c.value == s.value and c.timestamp == 7
        (r,) = list(resp)
        assert (r.key, r.value, r.partition) == (b"o1", b"\x00" + h + b"Ada", 0)
        assert r.timestamp == 7  # max(subscription, foreign value) timestamps


def test_table_joined_names_follow_kafka() -> None:
    b = StreamsBuilder()
    orders = b.table("orders", Consumed.with_(S, S))
    customers = b.table("customers", Consumed.with_(S, S))
    orders.join(customers, lambda o: o, lambda o, c: c, TableJoined.as_("fk"))
    topo = b.build()
    text = str(topo.describe())
    for name in (
        "fk-subscription-registration-processor",
        "fk-subscription-registration-sink",
        "fk-subscription-registration-source",
        "fk-subscription-receive",
        "fk-subscription-join-foreign",
        "fk-foreign-join-subscription",
        "fk-subscription-response-sink",
        "fk-subscription-response-source",
        "fk-subscription-response-resolver",
        "fk-result",
        "fk-subscription-store",
    ):
        assert name in text, name


def test_reset_tool_finds_generated_fk_join_topics() -> None:
    from riverlog.cli.streams import internal_topics

    topics = [
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic",
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic",
        "app-fk-subscription-registration-topic",
        "app-x-changelog",
        "app-user-topic",
        "other-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic",
    ]
    assert internal_topics(topics, "app") == sorted(topics[:4])


@pytest.mark.parametrize(("upgrade_from", "version"), [("3.3", 0), ("2.8", 0), ("3.4", 1)])
def test_upgrade_from_writes_kafkas_subscription_version(upgrade_from: str, version: int) -> None:
    # Kafka writes SubscriptionWrapper v0 (no primary partition) while upgrading from <= 3.3
    b = StreamsBuilder()
    orders = b.table("orders", Consumed.with_(S, S))
    customers = b.table("customers", Consumed.with_(S, S))
    orders.join(customers, lambda o: o.split(":")[0], lambda o, c: f"{o}/{c}").to_stream().to(
        "out", Produced.with_(S, S)
    )
    config = {"application.id": "app", "upgrade.from": upgrade_from}
    with TopologyTestDriver(b.build(), config) as driver:
        driver.create_input_topic("customers", S, S).pipe_input("c1", "Ada", 5)
        driver.create_input_topic("orders", S, S).pipe_input("o1", "c1:book", 7)
        (s,) = list(driver.outputs["app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"])
        h = value_hash(b"c1:book") or b""
        tail = b"" if version == 0 else b"\x00\x00\x00\x00"
        assert s.value == bytes([version, 3]) + h + b"o1" + tail
        (r,) = list(driver.outputs["app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"])
        # without a primary partition the response goes by its key (the producer's partitioner)
        assert r.partition == (None if version == 0 else 0)
        out = driver.create_output_topic("out", S, S)
        assert [(kv.key, kv.value) for kv in out.read_key_values_to_list()] == [
            ("o1", "c1:book/Ada")
        ]
