"""AvroConverter's schema mapping (Confluent's AvroData): Connect → Avro as Confluent writes it, and
back to the same Connect schema; values through fastavro and back."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import fastavro
import pytest

from riverlog.connect import data as d
from riverlog.connect.avro_converter import (
    to_avro_schema,
    to_avro_value,
    to_connect_schema,
    to_connect_value,
)
from riverlog.connect.data import SchemaBuilder, Struct

SCHEMA = (
    SchemaBuilder.struct()
    .name("shop.Order")
    .field("small", d.INT8_SCHEMA)
    .field("id", d.INT64_SCHEMA)
    .field("note", d.OPTIONAL_STRING_SCHEMA)
    .field("price", d.decimal_schema(2))
    .field("seen", d.timestamp_schema())
    .field("day", d.date_schema(optional=True))
    .field("tags", SchemaBuilder.array(d.STRING_SCHEMA).build())
    .field("counts", SchemaBuilder.map(d.INT32_SCHEMA, d.INT64_SCHEMA).build())
    .field("attrs", SchemaBuilder.map(d.STRING_SCHEMA, d.STRING_SCHEMA).build())
    .build()
)


def test_avro_schema_as_confluent_writes_it() -> None:
    avro = to_avro_schema(SCHEMA)
    assert avro["type"] == "record" and avro["name"] == "Order" and avro["namespace"] == "shop"
    assert avro["connect.name"] == "shop.Order"
    fields = {f["name"]: f for f in avro["fields"]}
    assert fields["small"]["type"] == {"type": "int", "connect.type": "int8"}
    assert fields["note"]["type"] == ["null", {"type": "string"}]
    assert fields["note"]["default"] is None
    assert fields["price"]["type"] == {
        "type": "bytes",
        "connect.version": 1,
        "connect.parameters": {"scale": "2"},
        "connect.name": "org.apache.kafka.connect.data.Decimal",
        "logicalType": "decimal",
        "precision": 64,
        "scale": 2,
    }
    assert fields["seen"]["type"]["logicalType"] == "timestamp-millis"
    assert fields["counts"]["type"]["items"]["name"] == "io.confluent.connect.avro.MapEntry"
    assert fields["attrs"]["type"]["type"] == "map"
    assert to_avro_schema(SchemaBuilder.struct().field("x", d.INT32_SCHEMA).build())["name"] == (
        "ConnectDefault"
    )


def test_schema_and_value_round_trip_through_avro_binary() -> None:
    assert to_connect_schema(to_avro_schema(SCHEMA)) == SCHEMA
    value = Struct(SCHEMA)
    for name, v in {
        "small": 3,
        "id": 9,
        "note": None,
        "price": decimal.Decimal("12.34"),
        "seen": dt.datetime(2026, 12, 7, 21, 0, 1, 234000, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 7),
        "tags": ["a", "b"],
        "counts": {1: 2},
        "attrs": {"k": "v"},
    }.items():
        value.put(name, v)
    parsed = fastavro.parse_schema(to_avro_schema(SCHEMA))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, to_avro_value(SCHEMA, value))
    out.seek(0)
    back = to_connect_value(SCHEMA, fastavro.schemaless_reader(out, parsed, None))
    assert back == value


@pytest.mark.parametrize(
    ("avro", "expected"),
    [
        ("long", d.INT64_SCHEMA),
        (["null", "string"], d.OPTIONAL_STRING_SCHEMA),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, d.STRING_SCHEMA),
        ({"type": "int", "logicalType": "date"}, d.date_schema()),
    ],
)
def test_plain_avro_schemas_map_to_connect(avro: object, expected: d.Schema) -> None:
    assert to_connect_schema(avro) == expected


def test_attribute_order_defaults_and_names_as_avro_data() -> None:
    """The text AvroData gives Java's Schema.toString (what Confluent's registry stores and hashes):
    decimal's scale/precision first, then connect.doc/version/parameters/default/name/type,
    logicalType last; field defaults from Connect defaults (a union with the default's branch
    first); unnamed structs ConnectDefault, ConnectDefault2, …; a struct met again by name."""
    import json

    price = SchemaBuilder.of(d.decimal_schema(2)).doc("the price").build()
    small = SchemaBuilder(d.Type.INT8).default_value(7).build()
    label = SchemaBuilder(d.Type.STRING).optional().default_value("none").build()
    point = SchemaBuilder.struct().name("geo.Point").field("x", d.INT32_SCHEMA).build()
    inner = SchemaBuilder.struct().field("y", d.INT32_SCHEMA).build()
    schema = (
        SchemaBuilder.struct()
        .field("price", price)
        .field("small", small)
        .field("label", label)
        .field("a", point)
        .field("b", point)
        .field("inner", inner)
        .build()
    )
    avro = to_avro_schema(schema)
    fields = {f["name"]: f for f in avro["fields"]}
    assert json.dumps(fields["price"]["type"], separators=(",", ":")) == (
        '{"type":"bytes","scale":2,"precision":64,"connect.doc":"the price","connect.version":1,'
        '"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal",'
        '"logicalType":"decimal"}'
    )
    assert json.dumps(fields["small"], separators=(",", ":")) == (
        '{"name":"small","type":{"type":"int","connect.default":7,"connect.type":"int8"},"default":7}'
    )
    assert fields["label"]["type"] == [{"type": "string", "connect.default": "none"}, "null"]
    assert fields["label"]["default"] == "none"
    assert fields["a"]["type"]["name"] == "Point" and fields["b"]["type"] == "geo.Point"
    assert avro["name"] == "ConnectDefault" and fields["inner"]["type"]["name"] == "ConnectDefault2"
    fastavro.parse_schema(avro)  # valid Avro: names defined once
    back = to_connect_schema(avro)
    assert back.field("small").schema.default == 7  # type: ignore[union-attr]
    assert back.field("label").schema.default == "none"  # type: ignore[union-attr]
    assert back.field("b").schema.name == "geo.Point"  # type: ignore[union-attr]
    assert back.name is None and back.field("inner").schema.name is None  # type: ignore[union-attr]
