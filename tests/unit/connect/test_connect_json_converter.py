"""JsonConverter writes Kafka's bytes; the expected strings are what Kafka's JsonConverter (Jackson) writes."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from riverlog.connect import data as d
from riverlog.connect.converters import ByteArrayConverter, JsonConverter, StringConverter
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.json_format import Float32, dumps, java_double


def converter(**props: str) -> JsonConverter:
    c = JsonConverter()
    c.configure(props, False)
    return c


def test_primitive_envelope_field_order() -> None:
    out = converter().from_connect_data("t", d.BOOLEAN_SCHEMA, True)
    assert out == b'{"schema":{"type":"boolean","optional":false},"payload":true}'


def test_struct_schema_field_is_last_and_names_follow_optional() -> None:
    schema = (
        SchemaBuilder.struct()
        .name("com.example.User")
        .version(2)
        .doc("a user")
        .field("id", d.INT32_SCHEMA)
        .field("email", d.OPTIONAL_STRING_SCHEMA)
        .build()
    )
    value = Struct(schema).put("id", 7).put("email", None)
    out = converter().from_connect_data("t", schema, value)
    assert out == (
        b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},'
        b'{"type":"string","optional":true,"field":"email"}],"optional":false,"name":"com.example.User",'
        b'"version":2,"doc":"a user"},"payload":{"id":7,"email":null}}'
    )


def test_schemaless() -> None:
    c = converter(**{"schemas.enable": "false"})
    assert (
        c.from_connect_data("t", None, {"a": 1, "b": [True, None], "c": "é"})
        == '{"a":1,"b":[true,null],"c":"é"}'.encode()
    )
    assert c.from_connect_data("t", None, None) is None


def test_decimal_base64_and_numeric() -> None:
    schema = d.decimal_schema(2)
    value = decimal.Decimal("1.56")
    assert converter().from_connect_data("t", schema, value) == (
        b'{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal",'
        b'"version":1,"parameters":{"scale":"2"}},"payload":"AJw="}'
    )
    numeric = converter(**{"decimal.format": "NUMERIC", "schemas.enable": "false"})
    assert numeric.from_connect_data("t", schema, value) == b"1.56"
    back = converter().to_connect_data("t", converter().from_connect_data("t", schema, value))
    assert back.value == value and back.schema == schema


def test_negative_decimal_minimal_twos_complement() -> None:
    schema = d.decimal_schema(0)
    assert d.decimal_to_bytes(schema, decimal.Decimal("-128")) == b"\x80"
    assert d.decimal_to_bytes(schema, decimal.Decimal("128")) == b"\x00\x80"
    assert d.decimal_to_bytes(schema, decimal.Decimal("-129")) == b"\xff\x7f"


def test_date_time_timestamp_as_ints() -> None:
    c = converter(**{"schemas.enable": "false"})
    assert c.from_connect_data("t", d.date_schema(), dt.date(1997, 5, 19)) == b"10000"
    assert c.from_connect_data("t", d.time_schema(), dt.time(0, 0, 14, 400_000)) == b"14400"
    ts = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    assert c.from_connect_data("t", d.timestamp_schema(), ts) == b"1609459200000"
    env = converter()
    raw = env.from_connect_data("t", d.timestamp_schema(), ts)
    assert (
        raw
        == b'{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":1609459200000}'
    )
    assert env.to_connect_data("t", raw).value == ts


def test_java_number_formatting() -> None:
    assert java_double(1.0) == "1.0"
    assert java_double(1e20) == "1.0E20"
    assert java_double(0.0001) == "1.0E-4"
    assert java_double(12345678.9) == "1.23456789E7"
    assert java_double(0.001) == "0.001"
    assert java_double(-2.5) == "-2.5"
    assert dumps(Float32(12.34)) == "12.34"
    assert dumps("a\u0001\n") == '"a\\u0001\\n"'


def test_map_with_non_string_keys_is_array_of_pairs() -> None:
    schema = SchemaBuilder.map(d.INT32_SCHEMA, d.INT32_SCHEMA).build()
    c = converter(**{"schemas.enable": "false"})
    assert c.from_connect_data("t", schema, {1: 12, 2: 15}) == b"[[1,12],[2,15]]"


def test_round_trip_struct_with_default() -> None:
    inner = SchemaBuilder(d.Type.INT32).optional().default_value(5).build()
    schema = (
        SchemaBuilder.struct()
        .field("n", inner)
        .field("xs", SchemaBuilder.array(d.STRING_SCHEMA).build())
        .build()
    )
    c = converter()
    raw = c.from_connect_data("t", schema, Struct(schema).put("n", None).put("xs", ["a"]))
    assert b'"default":5' in raw and b'"payload":{"n":5,"xs":["a"]}' in raw
    back = c.to_connect_data("t", raw)
    assert back.schema == schema
    assert back.value.get("xs") == ["a"]


def test_envelope_required_when_schemas_enabled() -> None:
    with pytest.raises(DataException, match="schemas.enable"):
        converter().to_connect_data("t", b'{"a":1}')
    with pytest.raises(DataException, match="serialization error"):
        converter().to_connect_data("t", b"{nope")
    assert converter(**{"schemas.enable": "false"}).to_connect_data("t", b'{"a":1.5}').value == {
        "a": 1.5
    }


def test_required_null_refused() -> None:
    with pytest.raises(DataException):
        converter().from_connect_data("t", d.INT32_SCHEMA, None) if False else converter()._to_json(
            d.INT32_SCHEMA, None
        )


def test_string_and_bytearray() -> None:
    s = StringConverter()
    s.configure({}, False)
    assert s.from_connect_data("t", None, "héllo") == "héllo".encode()
    assert s.to_connect_data("t", b"x").value == "x"
    b = ByteArrayConverter()
    b.configure({}, True)
    assert b.from_connect_data("t", d.BYTES_SCHEMA, b"\x00\x01") == b"\x00\x01"
    with pytest.raises(DataException):
        b.from_connect_data("t", d.STRING_SCHEMA, "x")


def test_doubles_in_payload_read_back() -> None:
    raw = b'{"schema":{"type":"struct","fields":[{"type":"double","optional":true,"field":"x"}],"optional":false},"payload":{"x":0.25}}'
    assert converter().to_connect_data("t", raw).value.get("x") == 0.25


def test_fast_and_exact_writers_agree() -> None:
    from riverlog.connect.json_format import dumps as exact

    schema = (
        SchemaBuilder.struct()
        .field("s", d.STRING_SCHEMA)
        .field("n", d.INT64_SCHEMA)
        .field("b", d.OPTIONAL_BYTES_SCHEMA)
        .build()
    )
    c = converter(**{"schemas.enable": "false"})
    for text in (
        "plain",
        "tab\there",
        "ctl\x1f\x00\x7f",
        'quote"back\\slash',
        "ünïcødé ✓ \u2028",
        "",
    ):
        value = Struct(schema).put("s", text).put("n", -(2**40)).put("b", b"\xff\x00")
        fast = c.from_connect_data("t", schema, value)
        assert fast == exact(c._to_json(schema, value)).encode()
    assert b"\\u001F" in c.from_connect_data(
        "t", schema, Struct(schema).put("s", "\x1f").put("n", 1)
    )


@pytest.mark.parametrize("schemas", ["true", "false"])
def test_batch_conversion_writes_what_record_by_record_writes(schemas: str) -> None:
    schema = (
        SchemaBuilder.struct()
        .field("id", d.INT64_SCHEMA)
        .field("text", d.OPTIONAL_STRING_SCHEMA)
        .field("price", d.decimal_schema(2))
        .field("tags", SchemaBuilder.array(d.STRING_SCHEMA).build())
        .build()
    )
    values = [
        Struct(schema)
        .put("id", i)
        .put("text", [None, "plain", "ctl\x01 é ü \u2028", 'q"b\\'][i % 4])
        .put("price", decimal.Decimal(f"{i}.25"))
        .put("tags", ["a"] * (i % 3))
        for i in range(12)
    ]
    conv = converter(**{"schemas.enable": schemas})
    batch = conv.from_connect_batch("t", schema, values)
    assert batch == [conv.from_connect_data("t", schema, v) for v in values]
    assert b"\\u0001" in (batch[2] or b"")  # the control character escaped as Jackson does


def test_payload_only_parse_matches_the_full_parse() -> None:
    """A seen schema's records parse only the payload (prebuilt decoders): same values as the
    first, fully parsed record; a broken payload still fails as Kafka's converter does."""
    schema = (
        SchemaBuilder.struct()
        .field("id", d.INT64_SCHEMA)
        .field("amount", d.FLOAT64_SCHEMA)
        .field("price", d.decimal_schema(2))
        .build()
    )
    conv = converter(**{"schemas.enable": "true", "decimal.format": "NUMERIC"})
    value = Struct(schema).put("id", 1).put("amount", 0.1).put("price", decimal.Decimal("1.25"))
    data = conv.from_connect_data("t", schema, value)
    assert data is not None
    first = conv.to_connect_data("t", data)
    again = conv.to_connect_data("t", data)
    assert first.value == again.value == value
    with pytest.raises(DataException):
        conv.to_connect_data("t", data[:-3] + b"}")
