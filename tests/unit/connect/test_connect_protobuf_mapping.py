"""ProtobufConverter's mapping (Confluent's ProtobufData, default settings): Connect → .proto as
ProtobufData builds it, values through protobuf's binary and back, and the message-index prefix."""

from __future__ import annotations

import datetime as dt

import pytest

from riverlog.connect import data as d
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.protobuf_converter import (
    TAG,
    message_indexes,
    read_message_indexes,
    to_connect_schema,
    to_connect_value,
    to_message,
    to_proto,
)
from riverlog.schema.proto_normalize import normalized_proto
from riverlog.schema.protobuf import ProtobufSchema

ADDRESS = SchemaBuilder.struct().field("city", d.STRING_SCHEMA).field("zip", d.INT64_SCHEMA).build()
ORDER = (
    SchemaBuilder.struct()
    .name("shop.Order")
    .field("id", d.INT32_SCHEMA)
    .field("units", d.FLOAT64_SCHEMA)
    .field("tags", SchemaBuilder.array(d.STRING_SCHEMA).build())
    .field("address", ADDRESS)
    .field("counts", SchemaBuilder.map(d.STRING_SCHEMA, d.INT64_SCHEMA).build())
    .field("seen", d.timestamp_schema(optional=True))
    .field("note", d.OPTIONAL_STRING_SCHEMA)
    .build()
)


def test_proto_schema_as_protobuf_data_builds_it() -> None:
    mapping = to_proto(ORDER)
    text = normalized_proto(mapping.file)
    assert text == (
        'syntax = "proto3";\n'
        "package shop;\n"
        "\n"
        'import "google/protobuf/timestamp.proto";\n'
        "\n"
        "message Order {\n"
        "  int32 id = 1;\n"
        "  double units = 2;\n"
        "  repeated string tags = 3;\n"
        "  .shop.Order.ConnectDefault1 address = 4;\n"
        "  repeated .shop.Order.ConnectDefault2Entry counts = 5;\n"
        "  .google.protobuf.Timestamp seen = 6;\n"
        "  string note = 7;\n"
        "\n"
        "  message ConnectDefault1 {\n"
        "    string city = 1;\n"
        "    int64 zip = 2;\n"
        "  }\n"
        "  message ConnectDefault2Entry {\n"
        "    string key = 1;\n"
        "    int64 value = 2;\n"
        "  }\n"
        "}\n"
    )
    ProtobufSchema(text)  # the text compiles


def test_values_round_trip_through_protobuf_binary() -> None:
    mapping = to_proto(ORDER)
    address = Struct(ADDRESS).put("city", "Oslo").put("zip", 150)
    value = (
        Struct(ORDER)
        .put("id", 7)
        .put("units", 2.5)
        .put("tags", ["a", "b"])
        .put("address", address)
        .put("counts", {"x": 1})
        .put("seen", dt.datetime(2026, 12, 7, 21, 0, 1, 234000, tzinfo=dt.UTC))
    )
    data = to_message(mapping, ORDER, value).SerializeToString()
    descriptor = mapping.pool.FindMessageTypeByName("shop.Order")
    schema = to_connect_schema(descriptor)
    assert schema.name == "Order"
    assert [f.name for f in schema.fields] == [f.name for f in ORDER.fields]
    assert all(f.schema.optional for f in schema.fields)
    assert schema.field("id").schema.params[TAG] == "1"  # type: ignore[union-attr]
    parsed = mapping.message_class()
    parsed.ParseFromString(data)
    back = to_connect_value(schema, parsed)
    assert back.get("id") == 7 and back.get("units") == 2.5 and back.get("tags") == ["a", "b"]
    assert back.get("address").get("city") == "Oslo" and back.get("counts") == {"x": 1}
    assert schema.field("counts").schema.name == "connect_default2"  # type: ignore[union-attr]
    assert back.get("seen") == dt.datetime(2026, 12, 7, 21, 0, 1, 234000, tzinfo=dt.UTC)
    assert back.get("note") == ""  # proto3 scalars have no null
    # what was read maps back to the same message (tags kept through the Tag parameter)
    again = to_proto(schema)
    assert [f.number for f in again.file.message_type[0].field] == [1, 2, 3, 4, 5, 6, 7]


def test_message_indexes_and_unsupported_types() -> None:
    for indexes in ([0], [1], [0, 2], [3, 1, 4]):
        encoded = message_indexes(indexes)
        assert read_message_indexes(encoded + b"rest") == (indexes, len(encoded))
    assert message_indexes([0]) == b"\x00" and message_indexes([1]) == b"\x02\x02"
    with pytest.raises(DataException, match="Decimal"):
        to_proto(SchemaBuilder.struct().field("p", d.decimal_schema(2)).build())
    with pytest.raises(DataException, match="root schema"):
        to_proto(d.STRING_SCHEMA)
