"""The compiled per-schema JSON paths give the generic converter's bytes, values and errors."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from riverlog.connect import data as d
from riverlog.connect.converters import JsonConverter
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import DataException


def converter(**props: str) -> JsonConverter:
    c = JsonConverter()
    c.configure(props, False)
    return c


def generic_bytes(c: JsonConverter, schema: d.Schema, value: Any) -> bytes:
    payload = c._dumps(schema, c._to_json(schema, value))
    if not c.schemas_enabled:
        return payload.encode()
    return ('{"schema":' + d_dumps(c, schema) + ',"payload":' + payload + "}").encode()


def d_dumps(c: JsonConverter, schema: d.Schema) -> str:
    from riverlog.connect.json_format import dumps

    return dumps(c.as_json_schema(schema))


INNER = SchemaBuilder.struct().field("n", d.INT32_SCHEMA).build()
SCHEMA = (
    SchemaBuilder.struct()
    .name("toll")
    .field("id", d.INT64_SCHEMA)
    .field("plate", d.OPTIONAL_STRING_SCHEMA)
    .field("ok", d.BOOLEAN_SCHEMA)
    .field("amount", d.OPTIONAL_FLOAT64_SCHEMA)
    .field("price", d.decimal_schema(2, optional=True))
    .field("inner", INNER)
    .field("tags", SchemaBuilder.array(d.STRING_SCHEMA).optional().build())
    .field("seen", d.timestamp_schema(optional=True))
    .field("day", d.date_schema(optional=True))
    .field("at", d.time_schema(optional=True))
    .build()
)


def value(**over: Any) -> Struct:
    s = Struct(SCHEMA)
    fields = {
        "id": 7,
        "plate": "AB\x01-é",
        "ok": True,
        "amount": 1.5e10,
        "price": decimal.Decimal("12.34"),
        "inner": Struct(INNER).put("n", 3),
        "tags": ["a"],
        "seen": dt.datetime(2026, 12, 7, 21, 0, 1, 234000, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 7),
        "at": dt.time(21, 0, 1, 234000),
    }
    fields.update(over)
    for k, v in fields.items():
        s._values[SCHEMA.field(k).index] = v  # type: ignore[union-attr]
    return s


@pytest.mark.parametrize("schemas", ["true", "false"])
@pytest.mark.parametrize(
    "over",
    [
        {},
        {"plate": None, "amount": None, "price": None, "tags": None, "seen": None, "day": None},
        {"amount": 2.0, "price": decimal.Decimal("-0.01")},
    ],
)
def test_plan_bytes_equal_generic_and_round_trip(schemas: str, over: dict[str, Any]) -> None:
    c = converter(**{"schemas.enable": schemas})
    v = value(**over)
    out = c.from_connect_data("t", SCHEMA, v)
    assert out == generic_bytes(c, SCHEMA, v)
    if schemas == "true":
        back = c.to_connect_data("t", out)
        assert back.value == v
        assert back.value.schema == SCHEMA


@pytest.mark.parametrize(
    "over",
    [
        {"id": True},
        {"id": "7"},
        {"ok": 1},
        {"id": None},
        {"plate": 5},
        {"price": decimal.Decimal("1.5")},  # scale 1 where the schema says 2
        {"price": 1.5},
    ],
)
def test_plan_rejects_what_generic_rejects(over: dict[str, Any]) -> None:
    c = converter()
    v = value(**over)
    with pytest.raises(DataException):
        c._to_json(SCHEMA, v)
    with pytest.raises(DataException):
        c.from_connect_data("t", SCHEMA, v)


@pytest.mark.parametrize(
    "payload",
    ['{"id":true}', '{"id":"x"}', '{"n":1.5}', "[1]", "null"],
)
def test_to_connect_plan_rejects_bad_payloads(payload: str) -> None:
    c = converter()
    schema = (
        SchemaBuilder.struct()
        .field("id", d.INT64_SCHEMA)
        .field("n", d.OPTIONAL_INT32_SCHEMA)
        .build()
    )
    text = '{"schema":' + d_dumps(c, schema) + ',"payload":' + payload + "}"
    with pytest.raises(DataException):
        c.to_connect_data("t", text.encode())


def test_to_connect_plan_widens_ints_for_doubles() -> None:
    c = converter()
    schema = SchemaBuilder.struct().field("x", d.FLOAT64_SCHEMA).build()
    text = '{"schema":' + d_dumps(c, schema) + ',"payload":{"x":3}}'
    out = c.to_connect_data("t", text.encode()).value
    assert out.get("x") == 3.0 and isinstance(out.get("x"), float)


def test_cached_envelope_parses_payload_only_and_still_rejects_extra_fields() -> None:
    c = converter()
    schema = SchemaBuilder.struct().field("id", d.INT64_SCHEMA).build()
    head = '{"schema":' + d_dumps(c, schema) + ',"payload":'
    first = c.to_connect_data("t", (head + '{"id":1}}').encode())
    again = c.to_connect_data("t", (head + '{"id":2}}').encode())
    assert first.value.get("id") == 1 and again.value.get("id") == 2
    assert again.schema is first.schema
    with pytest.raises(DataException):
        c.to_connect_data("t", (head + '{"id":3},"extra":1}').encode())
    with pytest.raises(DataException):
        c.to_connect_data("t", (head + '{"id":3}').encode())  # truncated


def test_cached_envelope_with_payload_key_nested_in_payload() -> None:
    c = converter()
    inner = SchemaBuilder.map(d.STRING_SCHEMA, d.INT32_SCHEMA).build()
    schema = SchemaBuilder.struct().field("m", inner).build()
    head = '{"schema":' + d_dumps(c, schema) + ',"payload":'
    for n in (1, 2):
        out = c.to_connect_data("t", (head + '{"m":{"a":0,"payload":' + str(n) + "}}}").encode())
        assert out.value.get("m") == {"a": 0, "payload": n}
