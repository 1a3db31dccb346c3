"""Converters between Connect data and record bytes, after Kafka's `Converter` implementations.

`JsonConverter` writes exactly what Kafka's writes for the same data (see `json_format`): with
`schemas.enable=true` an envelope `{"schema":…,"payload":…}` whose schema lists `type`, then
`items`/`keys`+`values`/`fields`, then `optional`, `name`, `version`, `doc`, `parameters`, `default`
(each struct field's own schema ends with `"field"`); decimals base64 (or numbers with
`decimal.format=NUMERIC`), dates/times/timestamps as ints. `StringConverter` and `ByteArrayConverter`
behave as Kafka's. Converters are configured once (`configure(props, is_key)`) and then stateless.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from riverlog.common.configdef import ConfigDef, ConfigError, Importance, Type, one_of
from riverlog.connect import data as d
from riverlog.connect.data import Schema, SchemaAndValue, SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.json_format import Float32, dumps
from riverlog.connect.json_format import decode_json as _DECODER
from riverlog.connect.json_format import decode_json_exact as _DECIMAL_DECODER
from riverlog.connect.json_format import fast_dumps as _FAST_JSON
from riverlog.connect.json_plans import (
    Plan,
    expect_int,
    has_decimal,
    has_float,
    plain,
    schemaless_type,
    text_of,
    to_connect_plan,
    to_json_plan,
)


class Converter:
    """Kafka's `Converter`: Connect data <-> bytes for one side (key or value) of a record."""

    config_def: ClassVar[ConfigDef] = ConfigDef()

    def configure(self, props: Mapping[str, Any], is_key: bool) -> None:
        self.is_key = is_key
        try:
            self.config = self.config_def.parse(
                {k: v for k, v in props.items() if k in self.config_def}, allow_unknown=True
            )
        except ConfigError as exc:
            raise DataException(str(exc)) from None

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        raise NotImplementedError

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        raise NotImplementedError

    def from_connect_batch(
        self, topic: str, schema: Schema | None, values: Sequence[Any]
    ) -> list[bytes | None]:
        """`from_connect_data` for values sharing one schema (converters override it to go faster)."""
        convert = self.from_connect_data
        return [convert(topic, schema, v) for v in values]


class StringConverter(Converter):
    config_def = ConfigDef().define(
        "converter.encoding",
        Type.STRING,
        "UTF8",
        None,
        Importance.HIGH,
        "The name of the encoding.",
    )

    _codec = "utf-8"

    def configure(self, props: Mapping[str, Any], is_key: bool) -> None:
        super().configure(props, is_key)
        name = str(self.config.get("converter.encoding", "UTF8")).lower()
        self._codec = {"utf8": "utf-8"}.get(name, name)

    def _encoding(self) -> str:
        return self._codec

    def from_connect_batch(
        self, topic: str, schema: Schema | None, values: Sequence[Any]
    ) -> list[bytes | None]:
        codec = self._codec
        try:
            return [v.encode(codec) for v in values]
        except AttributeError:  # not all strings: value by value
            return super().from_connect_batch(topic, schema, values)

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value.__class__ is str:
            return value.encode(self._codec)  # type: ignore[no-any-return]
        if value is None:
            return None
        return _to_string(value).encode(self._codec)

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(d.OPTIONAL_STRING_SCHEMA, None)
        try:
            return SchemaAndValue(d.OPTIONAL_STRING_SCHEMA, value.decode(self._encoding()))
        except UnicodeDecodeError as exc:
            raise DataException(f"Failed to deserialize string: {exc}") from None


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        from riverlog.connect.json_format import java_double

        return java_double(value)
    return str(value)


class ByteArrayConverter(Converter):
    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is not None and schema.type is not d.Type.BYTES:
            raise DataException(f"Invalid schema type for ByteArrayConverter: {schema.type.name}")
        if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            raise DataException(
                f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}"
            )
        return None if value is None else bytes(value)

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        return SchemaAndValue(d.OPTIONAL_BYTES_SCHEMA, value)


_ENVELOPE_ERROR = (
    'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain '
    "additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in "
    "your converter configuration."
)


class JsonConverter(Converter):
    config_def = (
        ConfigDef()
        .define(
            "schemas.enable",
            Type.BOOLEAN,
            True,
            None,
            Importance.HIGH,
            "Include schemas within each of the serialized values and keys.",
        )
        .define(
            "schemas.cache.size",
            Type.INT,
            1000,
            None,
            Importance.HIGH,
            "The maximum number of schemas that can be cached in this converter instance.",
        )
        .define(
            "decimal.format",
            Type.STRING,
            "BASE64",
            one_of("BASE64", "NUMERIC", case_sensitive=False),
            Importance.LOW,
            "Controls which format this converter will serialize decimals in.",
        )
        .define(
            "replace.null.with.default",
            Type.BOOLEAN,
            True,
            None,
            Importance.LOW,
            "Whether to replace fields that have a default value and that are null to the default value.",
        )
    )

    def configure(self, props: Mapping[str, Any], is_key: bool) -> None:
        super().configure(props, is_key)
        self.schemas_enabled = bool(self.config["schemas.enable"])
        self.numeric_decimals = str(self.config["decimal.format"]).upper() == "NUMERIC"
        self.replace_null = bool(self.config["replace.null.with.default"])
        self._schema_cache: dict[Schema, dict[str, Any]] = {}
        self._schema_text: dict[Schema, str] = {}
        self._fast: dict[Schema, bool] = {}
        self._connect_schemas: dict[bytes, _Known] = {}
        # id(schema) → (schema, envelope prefix, plan, C-encoder-safe): checked by identity, since
        # records of one task usually share one Schema object and hashing a schema is not free.
        self._out_plans: dict[int, tuple[Schema, str, Plan, bool]] = {}

    def _out_plan(self, schema: Schema) -> tuple[Schema, str, Plan, bool]:
        entry = self._out_plans.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry
        schema_text = dumps(self.as_json_schema(schema))
        fast = not has_float(schema) and not (self.numeric_decimals and has_decimal(schema))
        entry = (
            schema,
            '{"schema":' + schema_text + ',"payload":',
            to_json_plan(schema, self._to_json, self.numeric_decimals),
            fast,
        )
        if len(self._out_plans) >= int(self.config["schemas.cache.size"]):
            self._out_plans.clear()
        self._out_plans[id(schema)] = entry
        return entry

    def from_connect_batch(
        self, topic: str, schema: Schema | None, values: Sequence[Any]
    ) -> list[bytes | None]:
        """One plan lookup for the batch; then what `from_connect_data` does per value."""
        if schema is None:
            return super().from_connect_batch(topic, schema, values)
        _, prefix, plan, fast = self._out_plan(schema)
        encode = self._encode
        if self.schemas_enabled:
            return [(prefix + encode(plan(v), fast) + "}").encode() for v in values]
        return [encode(plan(v), fast).encode() for v in values]

    def _encode(self, node: Any, fast: bool) -> str:
        if not fast:
            return dumps(node)
        text = _FAST_JSON(node)
        if "\\u00" in text:
            text = _CONTROL_ESCAPE.sub(lambda m: m.group(0).upper().replace("\\U", "\\u"), text)
        return text

    # -- Connect -> JSON

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is None and value is None:
            return None
        if schema is not None:
            _, prefix, plan, fast = self._out_plan(schema)
            payload = self._encode(plan(value), fast)
            if self.schemas_enabled:
                return (prefix + payload + "}").encode()
            return payload.encode()
        if self.schemas_enabled:
            schema_text = self._schema_text.get(schema) if schema is not None else "null"
            if schema_text is None:
                schema_text = dumps(self.as_json_schema(schema))
                if len(self._schema_text) < int(self.config["schemas.cache.size"]):
                    self._schema_text[schema] = schema_text  # type: ignore[index]
            payload = self._dumps(schema, self._to_json(schema, value))
            return ('{"schema":' + schema_text + ',"payload":' + payload + "}").encode()
        return self._dumps(schema, self._to_json(schema, value)).encode()

    def _dumps(self, schema: Schema | None, node: Any) -> str:
        """Jackson's text for `node`. Schemas without floats or numeric decimals take the C encoder
        (its output is Jackson's once control-character escapes are upper-cased); others the
        Java-exact writer (Java's float formatting differs from Python's)."""
        fast = self._fast.get(schema) if schema is not None else False
        if fast is None:
            fast = not has_float(schema) and not (self.numeric_decimals and has_decimal(schema))
            self._fast[schema] = fast  # type: ignore[index]
        if not fast:
            return dumps(node)
        text = _FAST_JSON(node)
        if "\\u00" in text:
            text = _CONTROL_ESCAPE.sub(lambda m: m.group(0).upper().replace("\\U", "\\u"), text)
        return text

    def as_json_schema(self, schema: Schema | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        cached = self._schema_cache.get(schema)
        if cached is not None:
            return cached
        node: dict[str, Any] = {"type": _JSON_TYPE_NAMES[schema.type]}
        if schema.type is d.Type.ARRAY:
            node["items"] = self.as_json_schema(schema.value_schema)
        elif schema.type is d.Type.MAP:
            node["keys"] = self.as_json_schema(schema.key_schema)
            node["values"] = self.as_json_schema(schema.value_schema)
        elif schema.type is d.Type.STRUCT:
            fields = []
            for f in schema.fields:
                sub = dict(self.as_json_schema(f.schema) or {})
                sub["field"] = f.name
                fields.append(sub)
            node["fields"] = fields
        node["optional"] = schema.optional
        if schema.name is not None:
            node["name"] = schema.name
        if schema.version is not None:
            node["version"] = schema.version
        if schema.doc is not None:
            node["doc"] = schema.doc
        if schema.parameters is not None:
            node["parameters"] = dict(schema.parameters)
        if schema.default is not None:
            node["default"] = self._to_json(schema, schema.default)
        if len(self._schema_cache) < int(self.config["schemas.cache.size"]):
            self._schema_cache[schema] = node
        return node

    def _to_json(self, schema: Schema | None, value: Any) -> Any:
        if value is None:
            if schema is None:
                return None
            if schema.default is not None and self.replace_null:
                return self._to_json(schema, schema.default)
            if schema.optional:
                return None
            raise DataException(
                "Conversion error: null value for field that is required and has no default value"
            )
        if schema is not None and schema.name is not None:
            logical = self._logical_to_json(schema, value)
            if logical is not _NOT_LOGICAL:
                return logical
        kind = schema.type if schema is not None else schemaless_type(value)
        if kind in (d.Type.INT8, d.Type.INT16, d.Type.INT32, d.Type.INT64):
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataException(f"Invalid type for {kind.name}: {type(value).__name__}")
            return value
        if kind is d.Type.FLOAT32:
            return Float32(value)
        if kind is d.Type.FLOAT64:
            return float(value)
        if kind is d.Type.BOOLEAN:
            if not isinstance(value, bool):
                raise DataException(f"Invalid type for BOOLEAN: {type(value).__name__}")
            return value
        if kind is d.Type.STRING:
            if not isinstance(value, str):
                raise DataException(f"Invalid type for STRING: {type(value).__name__}")
            return value
        if kind is d.Type.BYTES:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise DataException(f"Invalid type for bytes type: {type(value).__name__}")
            return base64.b64encode(bytes(value)).decode("ascii")
        if kind is d.Type.ARRAY:
            item_schema = schema.value_schema if schema is not None else None
            return [self._to_json(item_schema, v) for v in value]
        if kind is d.Type.MAP:
            ks = schema.key_schema if schema is not None else None
            vs = schema.value_schema if schema is not None else None
            object_mode = (
                ks.type is d.Type.STRING
                if ks is not None
                else all(isinstance(k, str) for k in value)
            )
            if object_mode:
                return {
                    text_of(self._to_json(ks, k)): self._to_json(vs, v) for k, v in value.items()
                }
            return [[self._to_json(ks, k), self._to_json(vs, v)] for k, v in value.items()]
        if kind is d.Type.STRUCT:
            if not isinstance(value, Struct) or (schema is not None and value.schema != schema):
                raise DataException("Mismatching schema.")
            return {
                f.name: self._to_json(f.schema, value.get_without_default(f.name))
                for f in value.schema.fields
            }
        raise DataException(f"Couldn't convert {value!r} to JSON.")

    def _logical_to_json(self, schema: Schema, value: Any) -> Any:
        name = schema.name
        if name == d.DECIMAL_NAME:
            if not isinstance(value, decimal.Decimal):
                raise DataException(
                    f"Invalid type for Decimal, expected BigDecimal but was {type(value).__name__}"
                )
            if self.numeric_decimals:
                return value
            return base64.b64encode(d.decimal_to_bytes(schema, value)).decode("ascii")
        if name == d.DATE_NAME:
            return d.date_to_int(value)
        if name == d.TIME_NAME:
            return d.time_to_int(value)
        if name == d.TIMESTAMP_NAME:
            return d.timestamp_to_int(value)
        return _NOT_LOGICAL

    # -- JSON -> Connect

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(None, None)
        if self.schemas_enabled and value.startswith(b'{"schema":') and value.endswith(b"}"):
            # A schema seen before: parse only the payload (see `_remember`).
            cut = value.rfind(b',"payload":')
            known = self._connect_schemas.get(value[:cut]) if cut > 0 else None
            if known is not None and known[3]:
                schema, exact, plan, _ = known
                try:
                    # decoders built once: json.loads with parse_float builds one per call
                    decoder = _DECIMAL_DECODER if exact else _DECODER
                    payload = decoder(value[cut + 11 : -1].decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    pass  # not exactly one payload value: the full parse gives the error
                else:
                    if plan is None:
                        return SchemaAndValue(schema, self._to_connect(schema, payload))
                    return SchemaAndValue(schema, plan(payload))
        try:
            node = json.loads(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataException(
                f"Converting byte[] to Kafka Connect data failed due to serialization error: {exc}"
            ) from None
        if not self.schemas_enabled:
            return SchemaAndValue(None, node)
        if not isinstance(node, dict) or set(node) != {"schema", "payload"}:
            raise DataException(_ENVELOPE_ERROR)
        # Cache key: the raw bytes up to the last `,"payload":` — they hold the whole schema text, so
        # equal keys mean equal schemas (a compact envelope as Kafka writes it; else the schema re-dumped).
        key: bytes | None = None
        if value.startswith(b'{"schema":'):
            cut = value.rfind(b',"payload":')
            key = value[:cut] if cut > 0 else None
        if key is None:
            key = json.dumps(node["schema"], separators=(",", ":"), default=str).encode()
        cached = self._connect_schemas.get(key)
        if cached is None:
            cached = self._remember(key, node["schema"])
        schema, exact, plan, _ = cached
        if exact:  # decimals written as JSON numbers must keep every digit
            node = json.loads(value, parse_float=decimal.Decimal)
        if plan is None:
            return SchemaAndValue(schema, self._to_connect(schema, node["payload"]))
        return SchemaAndValue(schema, plan(node["payload"]))

    def _remember(self, key: bytes, schema_node: Any) -> _Known:
        """Cache a schema under `key`. The key is *verified* when it is `{"schema":` followed by
        exactly the text of one JSON value equal to the parsed schema: then a later record that
        starts with the key, continues with `,"payload":` and ends with `}` is that envelope exactly
        when the bytes between are one JSON value (a JSON string cannot hold an unescaped quote, so
        the key cannot end inside one), and only its payload needs parsing."""
        schema = self.as_connect_schema(schema_node)
        plan = None if schema is None else to_connect_plan(schema, self._to_connect)
        verified = False
        if key.startswith(b'{"schema":'):
            try:
                verified = json.loads(key[10:]) == schema_node
            except (ValueError, UnicodeDecodeError):
                verified = False
        known = (schema, has_decimal(schema), plan, verified)
        if len(self._connect_schemas) < int(self.config["schemas.cache.size"]):
            self._connect_schemas[key] = known
        return known

    def as_connect_schema(self, node: Any) -> Schema | None:
        if node is None:
            return None
        if not isinstance(node, dict) or "type" not in node:
            raise DataException("Schema must contain 'type' field")
        type_name = node["type"]
        kind = _TYPES_BY_JSON_NAME.get(type_name)
        if kind is None:
            raise DataException(f"Unknown schema type: {type_name}")
        if kind is d.Type.STRUCT:
            b = SchemaBuilder.struct()
            fields = node.get("fields")
            if not isinstance(fields, list):
                raise DataException('Struct schema\'s "fields" argument is not an array.')
            for f in fields:
                if not isinstance(f, dict) or not isinstance(f.get("field"), str):
                    raise DataException("Struct schema's field name not specified properly")
                sub = self.as_connect_schema(f)
                assert sub is not None
                b.field(f["field"], sub)
        elif kind is d.Type.ARRAY:
            items = self.as_connect_schema(node.get("items"))
            if items is None:
                raise DataException("Array schema did not specify the element type")
            b = SchemaBuilder.array(items)
        elif kind is d.Type.MAP:
            ks, vs = (
                self.as_connect_schema(node.get("keys")),
                self.as_connect_schema(node.get("values")),
            )
            if ks is None or vs is None:
                raise DataException("Map schema did not specify the key and value types")
            b = SchemaBuilder.map(ks, vs)
        else:
            b = SchemaBuilder(kind)
        if node.get("optional") is True:
            b.optional()
        b.name(node.get("name")).version(node.get("version")).doc(node.get("doc"))
        params = node.get("parameters")
        if isinstance(params, dict):
            b.parameters({str(k): str(v) for k, v in params.items()})
        if node.get("default") is not None:
            b.default_value(self._to_connect(b.build(), node["default"]))
        return b.build()

    def _to_connect(self, schema: Schema | None, node: Any) -> Any:
        if schema is None:
            return plain(
                node
            )  # schemaless: JSON types as they are (ints, floats, str, lists, dicts)
        if node is None:
            if schema.default is not None:
                return schema.default
            if schema.optional:
                return None
            raise DataException(f"Invalid null value for required {schema.type.name} field")
        name = schema.name
        if name == d.DECIMAL_NAME:
            if isinstance(node, (int, float, decimal.Decimal)) and not isinstance(node, bool):
                return decimal.Decimal(str(node))
            try:
                return d.decimal_from_bytes(schema, base64.b64decode(node, validate=True))
            except (binascii.Error, TypeError, ValueError):
                raise DataException("Invalid bytes for Decimal field") from None
        if name == d.DATE_NAME:
            return d.date_from_int(expect_int(node, "Date"))
        if name == d.TIME_NAME:
            return d.time_from_int(expect_int(node, "Time"))
        if name == d.TIMESTAMP_NAME:
            return d.timestamp_from_int(expect_int(node, "Timestamp"))
        kind = schema.type
        if kind in (d.Type.INT8, d.Type.INT16, d.Type.INT32, d.Type.INT64):
            return expect_int(node, kind.name)
        if kind in (d.Type.FLOAT32, d.Type.FLOAT64):
            if isinstance(node, bool) or not isinstance(node, (int, float, decimal.Decimal)):
                raise DataException(f"Invalid type for {kind.name}: {type(node).__name__}")
            return float(node)
        if kind is d.Type.BOOLEAN:
            if not isinstance(node, bool):
                raise DataException("Invalid type for BOOLEAN")
            return node
        if kind is d.Type.STRING:
            if not isinstance(node, str):
                raise DataException("Invalid type for STRING")
            return node
        if kind is d.Type.BYTES:
            try:
                return base64.b64decode(node, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise DataException("Invalid bytes field") from None
        if kind is d.Type.ARRAY:
            return [self._to_connect(schema.value_schema, v) for v in node]
        if kind is d.Type.MAP:
            ks, vs = schema.key_schema, schema.value_schema
            assert ks is not None
            if ks.type is d.Type.STRING:
                return {k: self._to_connect(vs, v) for k, v in node.items()}
            return {self._to_connect(ks, k): self._to_connect(vs, v) for k, v in node}
        if kind is d.Type.STRUCT:
            if not isinstance(node, dict):
                raise DataException(
                    "Structs should be encoded as JSON objects, but found " + type(node).__name__
                )
            s = Struct(schema)
            values = s._values  # each value was checked against its field schema just above
            for f in schema.fields:
                values[f.index] = self._to_connect(f.schema, node.get(f.name))
            return s
        raise DataException(f"Unknown schema type: {kind}")


_NOT_LOGICAL = object()
# A schema read from an envelope: (schema, has decimals, plan, key verified — see `_remember`).
_Known = tuple[Schema | None, bool, Plan | None, bool]

_JSON_TYPE_NAMES = {
    d.Type.BOOLEAN: "boolean",
    d.Type.INT8: "int8",
    d.Type.INT16: "int16",
    d.Type.INT32: "int32",
    d.Type.INT64: "int64",
    d.Type.FLOAT32: "float",
    d.Type.FLOAT64: "double",
    d.Type.BYTES: "bytes",
    d.Type.STRING: "string",
    d.Type.ARRAY: "array",
    d.Type.MAP: "map",
    d.Type.STRUCT: "struct",
}
_TYPES_BY_JSON_NAME = {v: k for k, v in _JSON_TYPE_NAMES.items()}


_CONTROL_ESCAPE = re.compile(r"\\u00[0-9a-f]{2}")


class SimpleHeaderConverter(StringConverter):
    """Header values as strings (Kafka's default `header.converter`, simplified: values stay text)."""

    PLUGIN_TYPE = "header_converter"
