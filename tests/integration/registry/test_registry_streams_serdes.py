"""`Serdes.Avro` / `Serdes.JsonSchema` in riverlog.streams: a topology reads and writes Confluent-framed
records through a real registry, and confluent-kafka's own deserializer reads what it wrote."""

from __future__ import annotations

import json

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from riverlog.registry.server import RegistryServer
from riverlog.streams import Consumed, Produced, Serdes, StreamsBuilder
from riverlog.streams.testing import TopologyTestDriver

ORDER = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}],
    }
)
TOTAL = json.dumps(
    {"type": "object", "properties": {"id": {"type": "integer"}, "doubled": {"type": "number"}}}
)


def test_avro_in_json_schema_out(registry: RegistryServer) -> None:
    url = registry.url
    client = SchemaRegistryClient({"url": url})
    builder = StreamsBuilder()
    (
        builder.stream("orders-avro", Consumed.with_(Serdes.String(), Serdes.Avro(url)))
        .map_values(lambda order: {"id": order["id"], "doubled": order["amount"] * 2})
        .to("totals-json", Produced.with_(Serdes.String(), Serdes.JsonSchema(url, TOTAL)))
    )
    config = {"application.id": "registry-serdes", "bootstrap.servers": "unused:9092"}
    with TopologyTestDriver(builder.build(), config) as driver:
        produce = AvroSerializer(client, ORDER)
        raw = produce(
            {"id": 7, "amount": 2.5}, SerializationContext("orders-avro", MessageField.VALUE)
        )
        source = driver.create_input_topic("orders-avro", Serdes.String(), Serdes.ByteArray())
        source.pipe_input("k", raw)
        sink = driver.create_output_topic("totals-json", Serdes.String(), Serdes.ByteArray())
        record = sink.read_record()
    assert record.value[0] == 0  # Confluent's magic byte, then the schema id
    read = JSONDeserializer(None, schema_registry_client=client)
    assert read(record.value, SerializationContext("totals-json", MessageField.VALUE)) == {
        "id": 7,
        "doubled": 5.0,
    }
    assert client.get_latest_version("totals-json-value").schema.schema_type == "JSON"


def test_avro_round_trip_through_the_streams_serde(registry: RegistryServer) -> None:
    serde = Serdes.Avro(registry.url, ORDER)
    data = serde.serialize("orders-rt", {"id": 1, "amount": 0.5})
    assert data is not None
    assert serde.deserialize("orders-rt", data) == {"id": 1, "amount": 0.5}
    theirs = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert theirs(data, SerializationContext("orders-rt", MessageField.VALUE)) == {
        "id": 1,
        "amount": 0.5,
    }
    assert serde.deserialize("orders-rt", None) is None
