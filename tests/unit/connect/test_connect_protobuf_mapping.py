"""ProtobufConverter's mapping (Confluent's ProtobufData, default settings): Connect → .proto as
ProtobufData builds it, values through protobuf's binary and back, and the message-index prefix."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from riverlog.connect import data as d
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.protobuf_converter import message_indexes, read_message_indexes
from riverlog.connect.protobuf_data import (
    TAG,
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


def test_message_indexes_and_unsupported_roots() -> None:
    for indexes in ([0], [1], [0, 2], [3, 1, 4]):
        encoded = message_indexes(indexes)
        assert read_message_indexes(encoded + b"rest") == (indexes, len(encoded))
    assert message_indexes([0]) == b"\x00" and message_indexes([1]) == b"\x02\x02"
    with pytest.raises(DataException, match="root schema"):
        to_proto(d.STRING_SCHEMA)


LOGICAL = (
    SchemaBuilder.struct()
    .name("Toll")
    .field("axles", d.INT8_SCHEMA)
    .field("lane", d.INT16_SCHEMA)
    .field(
        "amount",
        SchemaBuilder.of(d.decimal_schema(2)).parameter("connect.decimal.precision", "8").build(),
    )
    .field("day", d.date_schema())
    .field("at", d.time_schema())
    .build()
)


def test_logical_types_and_connect_metadata_as_protobuf_data_writes_them() -> None:
    mapping = to_proto(LOGICAL)
    text = normalized_proto(mapping.file)
    assert text == (
        'syntax = "proto3";\n'
        "\n"
        'import "confluent/meta.proto";\n'
        'import "confluent/type/decimal.proto";\n'
        'import "google/type/date.proto";\n'
        'import "google/type/timeofday.proto";\n'
        "\n"
        "message Toll {\n"
        "  int32 axles = 1 [(confluent.field_meta) = {\n"
        "    params: {\n"
        '      key: "connect.type",\n'
        '      value: "int8"\n'
        "    }\n"
        "  }];\n"
        "  int32 lane = 2 [(confluent.field_meta) = {\n"
        "    params: {\n"
        '      key: "connect.type",\n'
        '      value: "int16"\n'
        "    }\n"
        "  }];\n"
        "  .confluent.type.Decimal amount = 3 [(confluent.field_meta) = {\n"
        "    params: [\n"
        "      {\n"
        '        key: "precision",\n'
        '        value: "8"\n'
        "      },\n"
        "      {\n"
        '        key: "scale",\n'
        '        value: "2"\n'
        "      }\n"
        "    ]\n"
        "  }];\n"
        "  .google.type.Date day = 4;\n"
        "  .google.type.TimeOfDay at = 5;\n"
        "}\n"
    )
    compiled = ProtobufSchema(text)  # the registered text compiles, metadata included
    schema = to_connect_schema(compiled.pool.FindMessageTypeByName("Toll"))
    types = {f.name: (f.schema.type, f.schema.name) for f in schema.fields}
    assert types["axles"] == (d.Type.INT8, None) and types["lane"] == (d.Type.INT16, None)
    assert types["amount"] == (d.Type.BYTES, d.DECIMAL_NAME)
    assert schema.field("amount").schema.params["connect.decimal.precision"] == "8"  # type: ignore[union-attr]
    value = (
        Struct(LOGICAL)
        .put("axles", 3)
        .put("lane", 2)
        .put("amount", decimal.Decimal("-12.34"))
        .put("day", dt.date(2026, 12, 7))
        .put("at", dt.time(21, 5, 7, 250000))
    )
    data = to_message(mapping, LOGICAL, value).SerializeToString()
    parsed = mapping.message_class()
    parsed.ParseFromString(data)
    back = to_connect_value(to_connect_schema(mapping.pool.FindMessageTypeByName("Toll")), parsed)
    assert back.get("amount") == decimal.Decimal("-12.34")
    assert back.get("day") == dt.date(2026, 12, 7) and back.get("at") == dt.time(21, 5, 7, 250000)
    assert back.get("axles") == 3
