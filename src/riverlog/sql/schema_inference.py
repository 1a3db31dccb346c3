"""Columns from the schema registry, as ksqlDB infers them: a CREATE STREAM/TABLE that declares no
value columns (or no key columns) over a registry format takes them from the latest version of
`<topic>-value` (`<topic>-key`), field by field, names upper-cased.

AVRO: boolean BOOLEAN, int INT, long BIGINT, float/double DOUBLE, string/enum STRING, bytes
BYTES (logical decimal DECIMAL(p, s)), long timestamp-millis TIMESTAMP, int date DATE, int
time-millis TIME, array ARRAY, map MAP<STRING, …>, record STRUCT, a union with null its other
branch. JSON_SR: integer BIGINT (connect.type int8/16/32 INT), number DOUBLE, string STRING,
boolean BOOLEAN, array ARRAY, object with properties STRUCT, with additionalProperties MAP.
PROTOBUF: the first message; int32 family INT, int64 family BIGINT, float/double DOUBLE, bool,
string, bytes, enum STRING, repeated ARRAY, map MAP, message STRUCT (fields must be numbered 1…n in
order: riverlog.sql writes messages from the columns).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.formats import Column

REGISTRY_FORMATS = ("AVRO", "JSON_SR", "PROTOBUF")


def maybe_infer_columns(
    kind: str,
    columns: list[Column],
    key_format: str | None,
    value_format: str,
    topic: str,
    props: dict[str, object] | None = None,
) -> list[Column]:
    """`columns` completed from the registry: value columns when none are declared and the value
    format is a registry format; key columns likewise (PRIMARY KEY for a table). The schema is
    the subject's latest version, or the one `KEY_SCHEMA_ID` / `VALUE_SCHEMA_ID` names."""
    props = {k.upper(): v for k, v in (props or {}).items()}
    key_id, value_id = props.get("KEY_SCHEMA_ID"), props.get("VALUE_SCHEMA_ID")
    has_keys = any(c.namespace in ("KEY", "PRIMARY_KEY") for c in columns)
    has_values = any(c.namespace == "VALUE" for c in columns)
    for given, declared, what in ((key_id, has_keys, "KEY"), (value_id, has_values, "VALUE")):
        if given is not None and declared:
            raise SqlStatementError(
                f"Table elements and {what}_SCHEMA_ID cannot both exist for create statement."
            )
    out = list(columns)
    if not has_keys and (key_format or "").upper() in REGISTRY_FORMATS:
        ns = "PRIMARY_KEY" if kind == "TABLE" else "KEY"
        inferred = infer_columns(key_format or "", topic, True, _id(key_id))
        out = [Column(c.name, c.type, ns) for c in inferred] + out
    if not has_values:
        if value_format.upper() in REGISTRY_FORMATS:
            out += infer_columns(value_format.upper(), topic, False, _id(value_id))
        elif not columns:
            raise SqlStatementError(
                "The statement does not define any columns. Schema inference needs a value "
                "format with a schema registry (AVRO, JSON_SR, PROTOBUF)."
            )
    return out


def _id(v: object) -> int | None:
    return None if v is None else int(str(v))


def infer_columns(fmt: str, topic: str, is_key: bool, schema_id: int | None = None) -> list[Column]:
    """The columns of the latest `<topic>-key|value` schema, or of schema `schema_id`."""
    from riverlog.sql.registry_formats import registry_url

    subject = f"{topic}-{'key' if is_key else 'value'}"
    base = registry_url().rstrip("/")
    path = (
        f"/subjects/{subject}/versions/latest" if schema_id is None else f"/schemas/ids/{schema_id}"
    )
    try:
        r = httpx.get(base + path, timeout=10)
    except httpx.HTTPError as e:
        raise SqlStatementError(f"Could not reach the schema registry: {e}") from None
    if r.status_code == 404 and schema_id is not None:
        raise SqlStatementError(f"Schema with id {schema_id} does not exist in the Schema Registry")
    if r.status_code == 404:
        raise SqlStatementError(
            f"Schema for message {'keys' if is_key else 'values'} on topic '{topic}' does not "
            f"exist in the Schema Registry.\nSubject: {subject}"
        )
    if r.status_code != 200:
        raise SqlStatementError(f"Schema registry error for {subject}: HTTP {r.status_code}")
    found = r.json()
    kind = found.get("schemaType") or "AVRO"
    if kind != fmt and not (fmt == "JSON_SR" and kind == "JSON"):
        raise SqlStatementError(
            f"Format {fmt} does not match the registered schema type {kind} of {subject}"
        )
    text = str(found["schema"])
    if fmt == "AVRO":
        fields = _avro_fields(json.loads(text))
    elif fmt == "JSON_SR":
        fields = _json_fields(json.loads(text))
    else:
        fields = _proto_fields(text)
    ns = "KEY" if is_key else "VALUE"
    return [Column(name.upper(), t, ns) for name, t in fields]


def _struct(fields: list[tuple[str, T.SqlType]]) -> T.SqlType:
    return T.SqlType("STRUCT", fields=tuple((n.upper(), t) for n, t in fields))


# ---- Avro ------------------------------------------------------------------------------------


def _avro_fields(schema: Any) -> list[tuple[str, T.SqlType]]:
    if isinstance(schema, dict) and schema.get("type") == "record":
        return [(f["name"], _avro(f["type"])) for f in schema["fields"]]
    return [("ROWVAL", _avro(schema))]


def _avro(s: Any) -> T.SqlType:
    if isinstance(s, list):
        rest = [x for x in s if x != "null"]
        if len(rest) != 1:
            raise SqlStatementError(f"Unsupported Avro union: {s}")
        return _avro(rest[0])
    if isinstance(s, str):
        s = {"type": s}
    t, logical = s.get("type"), s.get("logicalType")
    if logical == "decimal":
        return T.decimal(int(s["precision"]), int(s.get("scale", 0)))
    if logical in ("timestamp-millis", "timestamp-micros"):
        return T.TIMESTAMP
    if logical == "date":
        return T.DATE
    if logical in ("time-millis", "time-micros"):
        return T.TIME
    simple = {
        "boolean": T.BOOLEAN,
        "int": T.INTEGER,
        "long": T.BIGINT,
        "float": T.DOUBLE,
        "double": T.DOUBLE,
        "string": T.STRING,
        "enum": T.STRING,
        "bytes": T.BYTES,
        "fixed": T.BYTES,
    }
    if t in simple:
        return simple[t]
    if t == "array":
        return T.array(_avro(s["items"]))
    if t == "map":
        return T.map_of(T.STRING, _avro(s["values"]))
    if t == "record":
        return _struct([(f["name"], _avro(f["type"])) for f in s["fields"]])
    if isinstance(t, (dict, list)):
        return _avro(t)
    raise SqlStatementError(f"Unsupported Avro type: {t}")


# ---- JSON schema -----------------------------------------------------------------------------


def _json_fields(schema: Any) -> list[tuple[str, T.SqlType]]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if props is None:
        return [("ROWVAL", _json(schema))]
    return [(name, _json(p)) for name, p in props.items()]


def _json(s: Any) -> T.SqlType:
    for union in ("oneOf", "anyOf"):
        if union in s:
            rest = [x for x in s[union] if x.get("type") != "null"]
            if len(rest) != 1:
                raise SqlStatementError(f"Unsupported JSON schema union: {s[union]}")
            return _json(rest[0])
    t = s.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        t = rest[0] if len(rest) == 1 else None
    connect = s.get("connect.type")
    if t == "integer":
        return T.INTEGER if connect in ("int8", "int16", "int32") else T.BIGINT
    if t == "number":
        if connect == "bytes" or s.get("title") == "org.apache.kafka.connect.data.Decimal":
            params = s.get("connect.parameters", {})
            return T.decimal(
                int(params.get("connect.decimal.precision", 64)), int(params.get("scale", 0))
            )
        return T.DOUBLE
    if t == "string":
        return T.BYTES if connect == "bytes" else T.STRING
    if t == "boolean":
        return T.BOOLEAN
    if t == "array":
        return T.array(_json(s.get("items", {"type": "string"})))
    if t == "object":
        if "properties" in s:
            return _struct([(k, _json(v)) for k, v in s["properties"].items()])
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            return T.map_of(T.STRING, _json(extra))
    raise SqlStatementError(f"Unsupported JSON schema type: {s}")


# ---- Protobuf --------------------------------------------------------------------------------


def _proto_fields(text: str) -> list[tuple[str, T.SqlType]]:
    from riverlog.schema.protobuf import ProtobufSchema

    schema = ProtobufSchema(text)
    if not schema.file.message_type:
        raise SqlStatementError("The Protobuf schema defines no message")
    message = schema.pool.FindMessageTypeByName(
        _full_name(schema.file, schema.file.message_type[0].name)
    )
    return _proto_message(message)


def _full_name(fdp: Any, name: str) -> str:
    return f"{fdp.package}.{name}" if fdp.package else name


def _proto_message(message: Any) -> list[tuple[str, T.SqlType]]:
    fields = list(message.fields)
    if [f.number for f in fields] != list(range(1, len(fields) + 1)):
        raise SqlStatementError(
            f"Protobuf message {message.full_name}: riverlog.sql reads messages whose fields are "
            "numbered 1…n in declaration order"
        )
    return [(f.name, _proto(f)) for f in fields]


def _proto(f: Any) -> T.SqlType:
    from google.protobuf.descriptor import FieldDescriptor as FD

    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        return T.map_of(_proto_scalar(kf), _proto_single(vf))
    t = _proto_single(f)
    repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == FD.LABEL_REPEATED
    return T.array(t) if repeated else t


def _proto_single(f: Any) -> T.SqlType:
    if f.message_type is not None:
        name = f.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return T.TIMESTAMP
        return _struct(_proto_message(f.message_type))
    return _proto_scalar(f)


def _proto_scalar(f: Any) -> T.SqlType:
    from google.protobuf.descriptor import FieldDescriptor as FD

    ints = (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32, FD.TYPE_UINT32, FD.TYPE_FIXED32)
    longs = (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64, FD.TYPE_UINT64, FD.TYPE_FIXED64)
    if f.type in ints:
        return T.INTEGER
    if f.type in longs:
        return T.BIGINT
    if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return T.DOUBLE
    if f.type == FD.TYPE_BOOL:
        return T.BOOLEAN
    if f.type in (FD.TYPE_STRING, FD.TYPE_ENUM):
        return T.STRING
    if f.type == FD.TYPE_BYTES:
        return T.BYTES
    raise SqlStatementError(f"Unsupported Protobuf field type of {f.full_name}")
