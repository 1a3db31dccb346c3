"""JsonSchemaConverter's mapping (Confluent's JsonSchemaData): Connect → JSON Schema and back, and
values through JSON text and back."""

from __future__ import annotations

import datetime as dt
import decimal
import json

from riverlog.connect import data as d
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.json_format import dumps
from riverlog.connect.json_schema_converter import (
    to_connect_schema,
    to_connect_value,
    to_json_schema,
    to_json_value,
)

SCHEMA = (
    SchemaBuilder.struct()
    .name("shop.Order")
    .field("id", d.INT64_SCHEMA)
    .field("note", d.OPTIONAL_STRING_SCHEMA)
    .field("price", d.decimal_schema(2))
    .field("seen", d.timestamp_schema())
    .field("raw", d.BYTES_SCHEMA)
    .field("tags", SchemaBuilder.array(d.STRING_SCHEMA).build())
    .field("counts", SchemaBuilder.map(d.INT32_SCHEMA, d.INT64_SCHEMA).build())
    .field("attrs", SchemaBuilder.map(d.STRING_SCHEMA, d.FLOAT64_SCHEMA).build())
    .build()
)


def test_json_schema_as_confluent_writes_it() -> None:
    node = to_json_schema(SCHEMA)
    assert node["type"] == "object" and node["title"] == "shop.Order"
    props = node["properties"]
    assert props["id"] == {"type": "integer", "connect.type": "int64", "connect.index": 0}
    assert props["note"] == {"oneOf": [{"type": "null"}, {"type": "string"}], "connect.index": 1}
    assert props["price"] == {
        "type": "number",
        "connect.type": "bytes",
        "title": "org.apache.kafka.connect.data.Decimal",
        "connect.version": 1,
        "connect.parameters": {"scale": "2"},
        "connect.index": 2,
    }
    assert props["raw"]["type"] == "string" and props["raw"]["connect.type"] == "bytes"
    assert props["counts"]["type"] == "array" and props["counts"]["connect.type"] == "map"
    assert props["attrs"]["type"] == "object" and props["attrs"]["connect.type"] == "map"


def test_schema_and_value_round_trip_through_json_text() -> None:
    assert to_connect_schema(to_json_schema(SCHEMA)) == SCHEMA
    value = Struct(SCHEMA)
    for name, v in {
        "id": 7,
        "note": None,
        "price": decimal.Decimal("12.34"),
        "seen": dt.datetime(2026, 12, 7, 21, 0, 1, 234000, tzinfo=dt.UTC),
        "raw": b"\x00\x01",
        "tags": ["a"],
        "counts": {1: 2},
        "attrs": {"k": 1.5},
    }.items():
        value.put(name, v)
    text = dumps(to_json_value(SCHEMA, value))
    back = to_connect_value(SCHEMA, json.loads(text, parse_float=decimal.Decimal))
    assert back == value


def test_plain_json_schema_types() -> None:
    plain = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "x": {"type": "number"}, "s": {"type": "string"}},
    }
    schema = to_connect_schema(plain)
    assert [(f.name, f.schema.type) for f in schema.fields] == [
        ("n", d.Type.INT64),
        ("x", d.Type.FLOAT64),
        ("s", d.Type.STRING),
    ]
