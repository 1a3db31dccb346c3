"""`AvroConverter` (Confluent's `io.confluent.connect.avro.AvroConverter`): Connect data as Avro in
Confluent's wire format (magic byte 0, 4-byte schema id, Avro binary), schemas in a schema registry.

Schema mapping after Confluent's `AvroData`: INT8/INT16 → `int` with `connect.type` `int8`/`int16`,
INT32 → int, INT64 → long, FLOAT32 → float, FLOAT64 → double, BOOLEAN, STRING, BYTES as themselves,
ARRAY → array, MAP with STRING keys → map (other keys: an array of `io.confluent.connect.avro.MapEntry`
records with `key` and `value`), STRUCT → record (unnamed: `io.confluent.connect.avro.ConnectDefault`),
optional → a union with null first and default null. Logical types: Decimal → bytes with
`logicalType` decimal, `precision` (`connect.decimal.precision`, else 64) and `scale`; Date → int `date`;
Time → int `time-millis`; Timestamp → long `timestamp-millis`; named schemas carry `connect.name`,
`connect.version`, `connect.doc` and `connect.parameters`, which map back on reading. A schema's
default value is written as `connect.default` and as the Avro field's `default` (an optional schema
with a default becomes `[T, "null"]`, as Avro requires the default's branch first); reading takes the
field default, else `connect.default`. Attributes come in AvroData's order (decimal `scale` and
`precision`, then `connect.doc`, `connect.version`, `connect.parameters`, `connect.default`,
`connect.name`, `connect.type`, then `logicalType`), so the registered text is the one Java's
Schema.toString gives for AvroData's schema. Unnamed structs are `ConnectDefault`, `ConnectDefault2`,
… in the order met; a named struct met again is written as its name. Not done: AvroData's
`io.confluent.connect.avro.field.default` marker parameter, enhanced schema support (enums), cycles.

Config (Confluent's keys): `schema.registry.url` (required), `auto.register.schemas` (true),
`use.latest.version` (false), `key.subject.name.strategy` / `value.subject.name.strategy`
(TopicNameStrategy). Per-record work is fastavro's schemaless writer/reader behind the frame; schema
conversions and ids are cached per Connect schema object and per schema id.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema as RegistrySchema
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext

from riverlog.common.configdef import ConfigDef, Importance, Type
from riverlog.connect import data as d
from riverlog.connect.converters import Converter
from riverlog.connect.data import Schema, SchemaAndValue, SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.schema.serdes import MAGIC_BYTE, SubjectNameStrategy, split_frame

NAMESPACE = "io.confluent.connect.avro"
DEFAULT_RECORD = f"{NAMESPACE}.ConnectDefault"
MAP_ENTRY = f"{NAMESPACE}.MapEntry"
PRECISION_PARAM = "connect.decimal.precision"

_PRIMITIVE: dict[d.Type, str] = {
    d.Type.INT8: "int",
    d.Type.INT16: "int",
    d.Type.INT32: "int",
    d.Type.INT64: "long",
    d.Type.FLOAT32: "float",
    d.Type.FLOAT64: "double",
    d.Type.BOOLEAN: "boolean",
    d.Type.STRING: "string",
    d.Type.BYTES: "bytes",
}
_LOGICAL_AVRO = {
    d.DATE_NAME: "date",
    d.TIME_NAME: "time-millis",
    d.TIMESTAMP_NAME: "timestamp-millis",
}


def to_avro_schema(schema: Schema) -> Any:
    """Confluent's `AvroData.fromConnectSchema` (the JSON form of the Avro schema)."""
    return _FromConnect().convert(schema)


class _FromConnect:
    """One conversion: unnamed structs are `ConnectDefault`, `ConnectDefault2`, … in the order met,
    and a named struct met again is written as its name (Avro names are defined once)."""

    def __init__(self) -> None:
        self.unnamed = 0
        self.seen: set[str] = set()

    def convert(self, schema: Schema) -> Any:
        if schema.type is d.Type.STRUCT and schema.optional:
            return ["null", self.base(schema)]  # Confluent: null first for structs, always
        base = self.base(schema)
        if not schema.optional:
            return base
        return [base, "null"] if schema.default is not None else ["null", base]

    def record_name(self, name: str | None) -> str:
        if name is not None:
            return name
        self.unnamed += 1
        return DEFAULT_RECORD + (str(self.unnamed) if self.unnamed > 1 else "")

    def base(self, schema: Schema) -> Any:
        kind = schema.type
        node: dict[str, Any]
        if kind is d.Type.STRUCT:
            full = self.record_name(schema.name)
            if full in self.seen:
                return full
            self.seen.add(full)
            namespace, _, name = full.rpartition(".")
            node = {"type": "record", "name": name}
            if namespace:
                node["namespace"] = namespace
            node["fields"] = [self.field(f) for f in schema.fields]
        elif kind is d.Type.ARRAY:
            assert schema.value_schema is not None
            node = {"type": "array", "items": self.convert(schema.value_schema)}
        elif kind is d.Type.MAP:
            ks, vs = schema.key_schema, schema.value_schema
            assert ks is not None and vs is not None
            if ks.type is d.Type.STRING and not ks.optional:
                node = {"type": "map", "values": self.convert(vs)}
            else:
                entry = {
                    "type": "record",
                    "name": MAP_ENTRY,
                    "fields": [
                        self.field(d.Field("key", 0, ks)),
                        self.field(d.Field("value", 1, vs)),
                    ],
                }
                node = {"type": "array", "items": entry}
        else:
            node = {"type": _PRIMITIVE[kind]}
        params = schema.params
        if schema.name == d.DECIMAL_NAME:
            # AvroData adds scale and precision while building the bytes schema
            node["scale"] = int(params.get(d.DECIMAL_SCALE, "0"))
            node["precision"] = int(params.get(PRECISION_PARAM, "64"))
        # Connect's metadata, in AvroData's order
        if schema.doc is not None:
            node["connect.doc"] = schema.doc
        if schema.version is not None:
            node["connect.version"] = schema.version
        if params:
            node["connect.parameters"] = params
        if schema.default is not None:
            node["connect.default"] = default_to_avro(schema, schema.default)
        if schema.name is not None:
            node["connect.name"] = schema.name
        if kind in (d.Type.INT8, d.Type.INT16):
            node["connect.type"] = kind.name.lower()
        if schema.name == d.DECIMAL_NAME:
            node["logicalType"] = "decimal"
        elif schema.name in _LOGICAL_AVRO:
            node["logicalType"] = _LOGICAL_AVRO[schema.name]
        return node

    def field(self, f: d.Field) -> dict[str, Any]:
        out: dict[str, Any] = {"name": f.name, "type": self.convert(f.schema)}
        if f.schema.default is not None:
            out["default"] = default_to_avro(f.schema, f.schema.default)
        elif f.schema.optional:
            out["default"] = None
        return out


def default_to_avro(schema: Schema, value: Any) -> Any:
    """AvroData's `defaultValueFromConnect`: a Connect default as the Avro JSON default (logical
    values in their serialized form, bytes as ISO-8859-1 text)."""
    if value is None:
        return None
    kind = schema.type
    if schema.name == d.DECIMAL_NAME:
        value = d.decimal_to_bytes(schema, value)
    elif schema.name == d.DATE_NAME:
        value = d.date_to_int(value)
    elif schema.name == d.TIME_NAME:
        value = d.time_to_int(value)
    elif schema.name == d.TIMESTAMP_NAME:
        value = d.timestamp_to_int(value)
    if kind is d.Type.BYTES:
        return bytes(value).decode("latin-1")
    if kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [default_to_avro(schema.value_schema, v) for v in value]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if ks.type is d.Type.STRING and not ks.optional:
            return {k: default_to_avro(vs, v) for k, v in value.items()}
        return [[default_to_avro(ks, k), default_to_avro(vs, v)] for k, v in value.items()]
    if kind is d.Type.STRUCT:
        return {f.name: default_to_avro(f.schema, value.get(f.name)) for f in schema.fields}
    return value


def default_from_avro(schema: Schema, value: Any) -> Any:
    """An Avro JSON default (or `connect.default`) as the Connect value of `schema`."""
    if value is None:
        return None
    kind = schema.type
    if kind is d.Type.BYTES and isinstance(value, str):
        value = value.encode("latin-1")
    if schema.name == d.DECIMAL_NAME:
        return d.decimal_from_bytes(schema, value)
    if schema.name == d.DATE_NAME:
        return d.date_from_int(value)
    if schema.name == d.TIME_NAME:
        return d.time_from_int(value)
    if schema.name == d.TIMESTAMP_NAME:
        return d.timestamp_from_int(value)
    if kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [default_from_avro(schema.value_schema, v) for v in value]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if isinstance(value, dict):
            return {k: default_from_avro(vs, v) for k, v in value.items()}
        return {default_from_avro(ks, k): default_from_avro(vs, v) for k, v in value}
    if kind is d.Type.STRUCT:
        out = Struct(schema)
        for f in schema.fields:
            out._values[f.index] = default_from_avro(f.schema, value.get(f.name))
        return out
    if kind in (d.Type.FLOAT32, d.Type.FLOAT64):
        return float(value)
    return value


_NO_DEFAULT = object()


def to_connect_schema(
    node: Any,
    optional: bool = False,
    default: Any = _NO_DEFAULT,
    names: dict[str, Schema] | None = None,
    namespace: str = "",
) -> Schema:
    """Confluent's `AvroData.toConnectSchema` for the schemas `to_avro_schema` writes, plus plain
    Avro (enums as STRING, fixed as BYTES, unions of null and one type as optional). `default` is
    the Avro field's default; `connect.default` is used when the field has none."""
    names = {} if names is None else names
    if isinstance(node, list):
        rest = [n for n in node if n != "null"]
        if len(rest) != 1:
            raise DataException("Avro unions other than [null, T] are not supported")
        optional = optional or len(rest) < len(node)
        return to_connect_schema(rest[0], optional, default, names, namespace)
    if isinstance(node, str):
        full = node if "." in node or not namespace else f"{namespace}.{node}"
        known = names.get(full) or names.get(node)
        if known is not None:
            again = SchemaBuilder.of(known)
            return (again.optional() if optional else again).build()
        node = {"type": node}
    if not isinstance(node, dict):
        raise DataException(f"not an Avro schema: {node!r}")
    kind, logical = node.get("type"), node.get("logicalType")
    if isinstance(kind, (dict, list)):
        return to_connect_schema(kind, optional, default, names, namespace)
    b: SchemaBuilder
    if logical == "decimal":
        b = SchemaBuilder(d.Type.BYTES).name(d.DECIMAL_NAME).version(1)
        b.parameter(d.DECIMAL_SCALE, str(node.get("scale", 0)))
        if int(node.get("precision", 64)) != 64:
            b.parameter(PRECISION_PARAM, str(node["precision"]))
    elif logical in ("date", "time-millis", "timestamp-millis"):
        name = {v: k for k, v in _LOGICAL_AVRO.items()}[str(logical)]
        b = SchemaBuilder(d.Type.INT64 if logical == "timestamp-millis" else d.Type.INT32)
        b.name(name).version(1)
    elif kind == "record" and node.get("name") == MAP_ENTRY.rsplit(".", 1)[1]:
        raise DataException("a MapEntry record outside an array")
    elif kind == "record":
        b = SchemaBuilder.struct()
        full = _full_name(node, namespace)
        if not full.startswith(DEFAULT_RECORD):
            b.name(full)
        inner = full.rpartition(".")[0]
        for f in node.get("fields", []):
            field_default = f.get("default", _NO_DEFAULT)
            b.field(f["name"], to_connect_schema(f["type"], False, field_default, names, inner))
    elif kind == "array":
        items = node["items"]
        if (
            isinstance(items, dict)
            and items.get("type") == "record"
            and _full_name(items, namespace) == MAP_ENTRY
        ):
            fields = {f["name"]: f["type"] for f in items["fields"]}
            b = SchemaBuilder.map(
                to_connect_schema(fields["key"], names=names, namespace=namespace),
                to_connect_schema(fields["value"], names=names, namespace=namespace),
            )
        else:
            b = SchemaBuilder.array(to_connect_schema(items, names=names, namespace=namespace))
    elif kind == "map":
        values = to_connect_schema(node["values"], names=names, namespace=namespace)
        b = SchemaBuilder.map(d.STRING_SCHEMA, values)
    elif kind == "enum":
        b = SchemaBuilder(d.Type.STRING)
    elif kind == "fixed":
        b = SchemaBuilder(d.Type.BYTES)
    else:
        by_name = {
            "int": d.Type.INT32,
            "long": d.Type.INT64,
            "float": d.Type.FLOAT32,
            "double": d.Type.FLOAT64,
            "boolean": d.Type.BOOLEAN,
            "string": d.Type.STRING,
            "bytes": d.Type.BYTES,
        }
        if kind not in by_name:
            raise DataException(f"unsupported Avro type {kind!r}")
        connect_type = node.get("connect.type")
        t = {"int8": d.Type.INT8, "int16": d.Type.INT16}.get(str(connect_type), by_name[kind])
        b = SchemaBuilder(t)
    if logical is None and node.get("connect.name") is not None:
        b.name(node["connect.name"])
    if logical is None and node.get("connect.version") is not None:
        b.version(int(node["connect.version"]))
    if node.get("connect.doc") is not None:
        b.doc(node["connect.doc"])
    params = node.get("connect.parameters")
    if isinstance(params, dict) and logical is None:
        b.parameters({str(k): str(v) for k, v in params.items()})
    if optional:
        b.optional()
    if default is _NO_DEFAULT:
        default = node.get("connect.default")
    if default is not None:
        try:
            b.default_value(default_from_avro(b.build(), default))
        except (DataException, TypeError, ValueError, AttributeError, KeyError):
            pass  # AvroData: an invalid default is ignored
    schema = b.build()
    if kind in ("record", "enum", "fixed") and node.get("name"):
        names.setdefault(_full_name(node, namespace), schema)
    return schema


def _full_name(node: Mapping[str, Any], enclosing: str = "") -> str:
    name = str(node.get("name", ""))
    namespace = node.get("namespace", enclosing)
    return f"{namespace}.{name}" if namespace and "." not in name else name


def to_avro_value(schema: Schema | None, value: Any) -> Any:
    """A Connect value as the datum fastavro writes for `to_avro_schema(schema)` (logical values
    stay Python objects: fastavro encodes Decimal, date, time and datetime itself)."""
    if value is None or schema is None:
        return value
    kind = schema.type
    if kind is d.Type.STRUCT:
        if not isinstance(value, Struct):
            raise DataException(f"expected a Struct for {schema!r}, got {type(value).__name__}")
        return {
            f.name: to_avro_value(f.schema, value.get_without_default(f.name))
            for f in schema.fields
        }
    if kind is d.Type.ARRAY:
        return [to_avro_value(schema.value_schema, v) for v in value]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None
        if ks.type is d.Type.STRING and not ks.optional:
            return {k: to_avro_value(vs, v) for k, v in value.items()}
        return [
            {"key": to_avro_value(ks, k), "value": to_avro_value(vs, v)} for k, v in value.items()
        ]
    return value


def to_connect_value(schema: Schema, datum: Any) -> Any:
    if datum is None:
        return None
    kind = schema.type
    if kind is d.Type.STRUCT:
        out = Struct(schema)
        for f in schema.fields:
            out._values[f.index] = to_connect_value(f.schema, datum.get(f.name))
        return out
    if kind is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [to_connect_value(schema.value_schema, v) for v in datum]
    if kind is d.Type.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        if isinstance(datum, dict):
            return {k: to_connect_value(vs, v) for k, v in datum.items()}
        return {to_connect_value(ks, e["key"]): to_connect_value(vs, e["value"]) for e in datum}
    if schema.name == d.TIMESTAMP_NAME and datum.tzinfo is None:
        return datum.replace(tzinfo=d.EPOCH.tzinfo)
    return datum


class AvroConverter(Converter):
    config_def = (
        ConfigDef()
        .define(
            "schema.registry.url",
            Type.LIST,
            None,
            None,
            Importance.HIGH,
            "Comma-separated list of URLs for schema registry instances.",
        )
        .define(
            "auto.register.schemas",
            Type.BOOLEAN,
            True,
            None,
            Importance.MEDIUM,
            "Specify if the Serializer should attempt to register the Schema with Schema Registry.",
        )
        .define(
            "use.latest.version",
            Type.BOOLEAN,
            False,
            None,
            Importance.LOW,
            "Use the latest version of the subject's schema instead of registering one.",
        )
        .define(
            "key.subject.name.strategy",
            Type.STRING,
            "io.confluent.kafka.serializers.subject.TopicNameStrategy",
            None,
            Importance.MEDIUM,
            "Determines how to construct the subject name under which the key schema is registered.",
        )
        .define(
            "value.subject.name.strategy",
            Type.STRING,
            "io.confluent.kafka.serializers.subject.TopicNameStrategy",
            None,
            Importance.MEDIUM,
            "Determines how to construct the subject name under which the value schema is registered.",
        )
    )

    def configure(self, props: Mapping[str, Any], is_key: bool) -> None:
        super().configure(props, is_key)
        urls = self.config["schema.registry.url"]
        if not urls:
            raise DataException(
                'Missing required configuration "schema.registry.url" which has no default value.'
            )
        try:
            side = "key" if is_key else "value"
            self.strategy = SubjectNameStrategy.parse(
                str(self.config[f"{side}.subject.name.strategy"])
            )
        except ValueError as exc:
            raise DataException(str(exc)) from None
        self.client = SchemaRegistryClient({"url": ",".join(urls)})
        self.field = MessageField.KEY if is_key else MessageField.VALUE
        self.auto_register = bool(self.config["auto.register.schemas"])
        self.use_latest = bool(self.config["use.latest.version"])
        # id(Connect schema) -> (schema, topic -> frame prefix, parsed Avro schema)
        self._writers: dict[int, tuple[Schema, dict[str, bytes], Any, str]] = {}
        self._readers: dict[bytes, tuple[Schema, Any]] = {}

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None and (schema is None or schema.optional):
            return None
        if schema is None:
            raise DataException("AvroConverter needs a schema for non-null values")
        entry = self._writers.get(id(schema))
        if entry is None or entry[0] is not schema:
            avro = to_avro_schema(schema)
            text = json.dumps(avro, separators=(",", ":"))
            entry = (schema, {}, fastavro.parse_schema(avro), text)
            self._writers[id(schema)] = entry
        _, prefixes, parsed, text = entry
        prefix = prefixes.get(topic)
        if prefix is None:
            prefix = prefixes[topic] = self._register(topic, schema, text)
        out = io.BytesIO()
        out.write(prefix)
        try:
            fastavro.schemaless_writer(out, parsed, to_avro_value(schema, value))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataException(f"Failed to serialize Avro data from topic {topic}: {exc}") from exc
        return out.getvalue()

    def registry_schema(self, text: str) -> RegistrySchema:
        return RegistrySchema(text, "AVRO")

    def record_name(self, schema: Schema) -> str | None:
        """The name RecordNameStrategy uses."""
        return schema.name or (DEFAULT_RECORD if schema.type is d.Type.STRUCT else None)

    def _register(self, topic: str, schema: Schema, text: str) -> bytes:
        record_name = self.record_name(schema)
        subject = self.strategy.function(SerializationContext(topic, self.field), record_name)
        if subject is None:
            raise DataException("the subject name strategy named no subject")
        try:
            if self.use_latest:
                schema_id = self.client.get_latest_version(subject).schema_id
            elif self.auto_register:
                schema_id = self.client.register_schema(subject, self.registry_schema(text))
            else:
                schema_id = self.client.lookup_schema(subject, self.registry_schema(text)).schema_id
        except Exception as exc:
            raise DataException(f"Failed to access Avro data from topic {topic}: {exc}") from exc
        if schema_id is None:
            raise DataException(f"Schema registry gave no id for subject {subject}")
        return bytes([MAGIC_BYTE]) + int(schema_id).to_bytes(4, "big")

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(None, None)
        try:
            schema_id, _ = split_frame(value)
        except ValueError as exc:
            raise DataException(
                f"Failed to deserialize data for topic {topic} to Avro: {exc}"
            ) from None
        reader = self._readers.get(value[:5])
        if reader is None:
            try:
                text = self.client.get_schema(schema_id).schema_str
            except Exception as exc:
                raise DataException(
                    f"Failed to retrieve Avro schema for id {schema_id}: {exc}"
                ) from exc
            avro = json.loads(text or "null")
            reader = (to_connect_schema(avro), fastavro.parse_schema(avro))
            self._readers[value[:5]] = reader
        schema, parsed = reader
        stream = io.BytesIO(value)
        stream.seek(5)
        try:
            datum = fastavro.schemaless_reader(stream, parsed, None)
        except Exception as exc:
            raise DataException(
                f"Failed to deserialize data for topic {topic} to Avro: {exc}"
            ) from exc
        return SchemaAndValue(schema, to_connect_value(schema, datum))
