"""`JsonSchemaConverter` (Confluent's `io.confluent.connect.json.JsonSchemaConverter`): Connect data as
JSON in Confluent's wire format (magic byte 0, 4-byte schema id, JSON text), JSON Schemas in a schema
registry.

Schema mapping after Confluent's `JsonSchemaData`: integers are `{"type":"integer"}` and floats
`{"type":"number"}` with `connect.type` (`int8` … `float64`), BOOLEAN `boolean`, STRING `string`, BYTES
a `string` with `connect.type` `bytes` (base64 values), Decimal a `number` with `connect.type` `bytes`
(values as JSON numbers), ARRAY `array` with `items`, MAP with STRING keys an `object` with
`additionalProperties` and `connect.type` `map` (other keys: an `array` of `{key, value}` objects),
STRUCT an `object` with `properties` whose schemas carry `connect.index`; a schema's name is its `title`,
its doc `description`, plus `connect.version` / `connect.parameters`; optional schemas are
`{"oneOf":[{"type":"null"}, …]}` (the field's `connect.index` on the `oneOf`). Date/Time/Timestamp are
integers (days, ms of day, ms since the epoch). The registry and subject settings are `AvroConverter`'s.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka.schema_registry import Schema as RegistrySchema

from riverlog.connect import data as d
from riverlog.connect.avro_converter import AvroConverter
from riverlog.connect.data import Schema, SchemaAndValue, SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.json_format import dumps
from riverlog.schema.serdes import split_frame

_NUMBERS = {
    d.Type.INT8: ("integer", "int8"),
    d.Type.INT16: ("integer", "int16"),
    d.Type.INT32: ("integer", "int32"),
    d.Type.INT64: ("integer", "int64"),
    d.Type.FLOAT32: ("number", "float32"),
    d.Type.FLOAT64: ("number", "float64"),
}
_BY_CONNECT_TYPE = {v[1]: k for k, v in _NUMBERS.items()}


def to_json_schema(schema: Schema, index: int | None = None) -> dict[str, Any]:
    """Confluent's `JsonSchemaData.fromConnectSchema` as a JSON document."""
    kind = schema.type
    node: dict[str, Any]
    if kind in _NUMBERS:
        node = {"type": _NUMBERS[kind][0], "connect.type": _NUMBERS[kind][1]}
    elif kind is d.Type.BOOLEAN:
        node = {"type": "boolean"}
    elif kind is d.Type.STRING:
        node = {"type": "string"}
    elif kind is d.Type.BYTES:
        node = {"type": "number" if schema.name == d.DECIMAL_NAME else "string"}
        node["connect.type"] = "bytes"
    elif kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        node = {"type": "array", "items": to_json_schema(schema.value_schema)}
    elif kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if ks.type is d.Type.STRING and not ks.optional:
            node = {"type": "object", "additionalProperties": to_json_schema(vs)}
        else:
            entry = {
                "type": "object",
                "properties": {"key": to_json_schema(ks, 0), "value": to_json_schema(vs, 1)},
            }
            node = {"type": "array", "items": entry}
        node["connect.type"] = "map"
    else:
        node = {
            "type": "object",
            "properties": {f.name: to_json_schema(f.schema, f.index) for f in schema.fields},
        }
    if schema.name is not None:
        node["title"] = schema.name
    if schema.version is not None:
        node["connect.version"] = schema.version
    if schema.doc is not None:
        node["description"] = schema.doc
    if schema.params:
        node["connect.parameters"] = schema.params
    if schema.optional:
        node = {"oneOf": [{"type": "null"}, node]}
    if index is not None:
        node["connect.index"] = index
    return node


def to_connect_schema(node: Any, optional: bool = False) -> Schema:
    """Confluent's `JsonSchemaData.toConnectSchema` for the schemas above and plain JSON Schemas
    (integer → INT64, number → FLOAT64, `oneOf` of null and one schema → optional)."""
    if not isinstance(node, dict):
        raise DataException(f"not a JSON Schema: {node!r}")
    combined = node.get("oneOf") or node.get("anyOf")
    if isinstance(combined, list):
        rest = [s for s in combined if not (isinstance(s, dict) and s.get("type") == "null")]
        if len(rest) == 1 and len(combined) == 2:
            return to_connect_schema(rest[0], True)
        raise DataException("JSON Schema unions other than oneOf [null, T] are not supported")
    kind = node.get("type")
    connect_type = node.get("connect.type")
    b: SchemaBuilder
    if kind in ("integer", "number"):
        if connect_type == "bytes":
            b = SchemaBuilder(d.Type.BYTES)
        elif connect_type in _BY_CONNECT_TYPE:
            b = SchemaBuilder(_BY_CONNECT_TYPE[str(connect_type)])
        else:
            b = SchemaBuilder(d.Type.INT64 if kind == "integer" else d.Type.FLOAT64)
    elif kind == "boolean":
        b = SchemaBuilder(d.Type.BOOLEAN)
    elif kind == "string":
        b = SchemaBuilder(d.Type.BYTES if connect_type == "bytes" else d.Type.STRING)
    elif kind == "array":
        items = node.get("items")
        if items is None:
            raise DataException("Array schema did not specify the items type")
        props = items.get("properties", {}) if isinstance(items, dict) else {}
        if connect_type == "map" and "key" in props and "value" in props:
            b = SchemaBuilder.map(
                to_connect_schema(props["key"]), to_connect_schema(props["value"])
            )
        else:
            b = SchemaBuilder.array(to_connect_schema(items))
    elif kind == "object" and connect_type == "map":
        b = SchemaBuilder.map(d.STRING_SCHEMA, to_connect_schema(node["additionalProperties"]))
    elif kind == "object":
        b = SchemaBuilder.struct()
        props = node.get("properties", {})
        order = sorted(
            enumerate(props.items()),
            key=lambda item: (
                item[1][1].get("connect.index", item[0])
                if isinstance(item[1][1], dict)
                else item[0]
            ),
        )
        for _, (name, sub) in order:
            b.field(name, to_connect_schema(sub))
    else:
        raise DataException(f"unsupported JSON Schema type {kind!r}")
    if node.get("title") is not None:
        b.name(str(node["title"]))
    if node.get("connect.version") is not None:
        b.version(int(node["connect.version"]))
    if node.get("description") is not None:
        b.doc(str(node["description"]))
    params = node.get("connect.parameters")
    if isinstance(params, dict):
        b.parameters({str(k): str(v) for k, v in params.items()})
    if optional:
        b.optional()
    return b.build()


def to_json_value(schema: Schema, value: Any) -> Any:
    if value is None:
        if schema.default is not None:
            return to_json_value(schema, schema.default)
        if schema.optional:
            return None
        raise DataException("Conversion error: null value for field that is required")
    name = schema.name
    if name == d.DECIMAL_NAME:
        return value  # a JSON number with every digit
    if name == d.DATE_NAME:
        return d.date_to_int(value)
    if name == d.TIME_NAME:
        return d.time_to_int(value)
    if name == d.TIMESTAMP_NAME:
        return d.timestamp_to_int(value)
    kind = schema.type
    if kind is d.Type.BYTES:
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [to_json_value(schema.value_schema, v) for v in value]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if ks.type is d.Type.STRING and not ks.optional:
            return {k: to_json_value(vs, v) for k, v in value.items()}
        return [
            {"key": to_json_value(ks, k), "value": to_json_value(vs, v)} for k, v in value.items()
        ]
    if kind is d.Type.STRUCT:
        if not isinstance(value, Struct) or value.schema != schema:
            raise DataException("Mismatching schema.")
        return {f.name: to_json_value(f.schema, value.get(f.name)) for f in schema.fields}
    return value


def to_connect_value(schema: Schema, node: Any) -> Any:
    if node is None:
        if schema.default is not None:
            return schema.default
        if schema.optional:
            return None
        raise DataException(f"Invalid null value for required {schema.type.name} field")
    name = schema.name
    if name == d.DECIMAL_NAME:
        return decimal.Decimal(str(node))
    if name == d.DATE_NAME:
        return d.date_from_int(int(node))
    if name == d.TIME_NAME:
        return d.time_from_int(int(node))
    if name == d.TIMESTAMP_NAME:
        return d.timestamp_from_int(int(node))
    kind = schema.type
    if kind is d.Type.BYTES:
        try:
            return base64.b64decode(node, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise DataException("Invalid bytes field") from None
    if kind in (d.Type.FLOAT32, d.Type.FLOAT64):
        return float(node)
    if kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [to_connect_value(schema.value_schema, v) for v in node]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if isinstance(node, dict):
            return {k: to_connect_value(vs, v) for k, v in node.items()}
        return {to_connect_value(ks, e["key"]): to_connect_value(vs, e["value"]) for e in node}
    if kind is d.Type.STRUCT:
        if not isinstance(node, dict):
            raise DataException(f"Structs should be JSON objects, found {type(node).__name__}")
        out = Struct(schema)
        for f in schema.fields:
            out._values[f.index] = to_connect_value(f.schema, node.get(f.name))
        return out
    return node


class JsonSchemaConverter(AvroConverter):
    """Registry, subject and framing settings as `AvroConverter`; JSON Schema documents and JSON text."""

    def configure(self, props: Mapping[str, Any], is_key: bool) -> None:
        super().configure(props, is_key)
        self._json_writers: dict[int, tuple[Schema, dict[str, bytes], str]] = {}
        self._json_readers: dict[bytes, Schema] = {}

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None and (schema is None or schema.optional):
            return None
        if schema is None:
            raise DataException("JsonSchemaConverter needs a schema for non-null values")
        entry = self._json_writers.get(id(schema))
        if entry is None or entry[0] is not schema:
            text = json.dumps(to_json_schema(schema), separators=(",", ":"))
            entry = (schema, {}, text)
            self._json_writers[id(schema)] = entry
        _, prefixes, text = entry
        prefix = prefixes.get(topic)
        if prefix is None:
            prefix = prefixes[topic] = self._register(topic, schema, text)
        return prefix + dumps(to_json_value(schema, value)).encode()

    def registry_schema(self, text: str) -> RegistrySchema:
        return RegistrySchema(text, "JSON")

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(None, None)
        try:
            schema_id, payload = split_frame(value)
            node = json.loads(payload, parse_float=decimal.Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataException(f"Failed to deserialize JSON for topic {topic}: {exc}") from None
        schema = self._json_readers.get(value[:5])
        if schema is None:
            try:
                text = self.client.get_schema(schema_id).schema_str
            except Exception as exc:
                raise DataException(
                    f"Failed to retrieve JSON schema for id {schema_id}: {exc}"
                ) from exc
            schema = to_connect_schema(json.loads(text or "null"))
            self._json_readers[value[:5]] = schema
        return SchemaAndValue(schema, to_connect_value(schema, node))
