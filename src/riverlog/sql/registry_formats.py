"""AVRO and JSON_SR formats through a Confluent-compatible schema registry (riverlog.schema.serdes);
PROTOBUF lives in riverlog.sql.protobuf_format.

Schemas are derived from the columns as ksqlDB derives them: an Avro record
`io.confluent.ksql.avro_schemas.KsqlDataSourceSchema` whose fields are nullable unions (structs are
nested records `KsqlDataSourceSchema_<FIELD>`), DECIMAL as `bytes`/`decimal`, TIMESTAMP as
`long`/`timestamp-millis`, DATE as `int`/`date`, TIME as `int`/`time-millis`; a single key column is
written unwrapped. Subjects are `<topic>-key` / `<topic>-value` (TopicNameStrategy), registered on
first write. The registry URL is the server's `ksql.schema.registry.url` (`configure`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError

_registry_url: str | None = None
_clients: dict[str, Any] = {}


def configure(url: str | None) -> None:
    """Set the schema registry the AVRO/JSON_SR/PROTOBUF formats use (None: not available)."""
    global _registry_url
    _registry_url = url or None


def registry_url() -> str:
    if _registry_url is None:
        raise SqlStatementError(
            "Schema registry url is not set: formats AVRO, JSON_SR and PROTOBUF need "
            "'ksql.schema.registry.url'."
        )
    return _registry_url


def registry_client() -> Any:
    """The registry client of the configured URL (one per URL)."""
    return _client()


def _client() -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    url = registry_url()
    if url not in _clients:
        _clients[url] = SchemaRegistryClient({"url": url})
    return _clients[url]


# ---- Avro ------------------------------------------------------------------------------------


def avro_type(t: T.SqlType, name: str) -> Any:
    b = t.base
    simple = {
        "BOOLEAN": "boolean",
        "INTEGER": "int",
        "BIGINT": "long",
        "DOUBLE": "double",
        "STRING": "string",
        "BYTES": "bytes",
    }
    if b in simple:
        return simple[b]
    if b == "DECIMAL":
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": t.precision,
            "scale": t.scale,
        }
    if b == "TIMESTAMP":
        return {"type": "long", "logicalType": "timestamp-millis"}
    if b == "DATE":
        return {"type": "int", "logicalType": "date"}
    if b == "TIME":
        return {"type": "int", "logicalType": "time-millis"}
    if b == "ARRAY":
        return {"type": "array", "items": ["null", avro_type(t.items[0], name)]}
    if b == "MAP":
        return {"type": "map", "values": ["null", avro_type(t.items[1], name)]}
    if b == "STRUCT":
        return {
            "type": "record",
            "name": f"{name}",
            "fields": [
                {"name": n, "type": ["null", avro_type(ft, f"{name}_{n}")], "default": None}
                for n, ft in t.fields
            ],
        }
    raise SqlStatementError(f"The 'AVRO' format does not support type '{t}'")


def avro_schema(columns: Sequence[Any], unwrap: bool) -> str:
    base = "KsqlDataSourceSchema"
    if unwrap:
        return json.dumps(avro_type(columns[0].type, f"{base}_{columns[0].name}"))
    return json.dumps(
        {
            "type": "record",
            "name": base,
            "namespace": "io.confluent.ksql.avro_schemas",
            "fields": [
                {
                    "name": c.name,
                    "type": ["null", avro_type(c.type, f"{base}_{c.name}")],
                    "default": None,
                }
                for c in columns
            ],
        }
    )


# ---- JSON Schema -------------------------------------------------------------------------------


def json_schema_type(t: T.SqlType) -> dict[str, Any]:
    b = t.base
    if b == "BOOLEAN":
        return {"type": "boolean"}
    if b in ("INTEGER", "BIGINT", "TIMESTAMP", "DATE", "TIME"):
        return {"type": "integer"}
    if b in ("DOUBLE", "DECIMAL"):
        return {"type": "number"}
    if b in ("STRING", "BYTES"):
        return {"type": "string"}
    if b == "ARRAY":
        return {"type": "array", "items": _nullable(json_schema_type(t.items[0]))}
    if b == "MAP":
        return {"type": "object", "additionalProperties": _nullable(json_schema_type(t.items[1]))}
    return {
        "type": "object",
        "properties": {n: _nullable(json_schema_type(ft)) for n, ft in t.fields},
    }


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, s]}


def json_schema(columns: Sequence[Any], unwrap: bool) -> str:
    if unwrap:
        return json.dumps(json_schema_type(columns[0].type))
    return json.dumps(
        {
            "type": "object",
            "title": "KsqlDataSourceSchema",
            "properties": {
                c.name: {**_nullable(json_schema_type(c.type)), "connect.index": i}
                for i, c in enumerate(columns)
            },
        }
    )


# ---- the serde ---------------------------------------------------------------------------------


class RegistryRowCodec:
    """Rows (tuples) ↔ Confluent-framed AVRO or JSON_SR records."""

    def __init__(self, fmt: str, columns: Sequence[Any], is_key: bool, unwrap: bool) -> None:
        from riverlog.schema.serdes import AvroSerde, JsonSchemaSerde

        self.columns = list(columns)
        self.unwrap = unwrap
        client = _client()
        if fmt == "AVRO":
            schema = avro_schema(self.columns, unwrap)
            self.serde: Any = AvroSerde(client, schema, is_key=is_key)
        else:
            self.serde = JsonSchemaSerde(client, json_schema(self.columns, unwrap), is_key=is_key)

    def write(self, topic: str, values: tuple[Any, ...]) -> bytes | None:
        if self.unwrap:
            return self.serde.serialize(topic, _out(values[0], self.columns[0].type))  # type: ignore[no-any-return]
        record = {c.name: _out(v, c.type) for c, v in zip(self.columns, values, strict=True)}
        return self.serde.serialize(topic, record)  # type: ignore[no-any-return]

    def read(self, topic: str, data: bytes) -> tuple[Any, ...]:
        node = self.serde.deserialize(topic, data)
        if self.unwrap:
            c = self.columns[0]
            return (T.coerce(_in(node, c.type), c.type),)
        if not isinstance(node, dict):
            raise ValueError(f"expected a record, got {type(node).__name__}")
        upper = {str(k).upper(): v for k, v in node.items()}
        return tuple(
            T.coerce(
                _in(node[c.name] if c.name in node else upper.get(c.name.upper()), c.type), c.type
            )
            for c in self.columns
        )


def _out(v: Any, t: T.SqlType) -> Any:
    if v is None:
        return None
    if t.base == "STRUCT":
        return {n: _out(v.get(n), ft) for n, ft in t.fields}
    if t.base == "ARRAY":
        return [_out(x, t.items[0]) for x in v]
    if t.base == "MAP":
        return {str(k): _out(x, t.items[1]) for k, x in v.items()}
    return v


def _in(v: Any, t: T.SqlType) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return int(v.timestamp() * 1000)
    if isinstance(v, date):
        return (v - date(1970, 1, 1)).days
    if isinstance(v, time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000
    if isinstance(v, list) and t.base == "ARRAY":
        return [_in(x, t.items[0]) for x in v]
    if isinstance(v, dict) and t.base == "MAP":
        return {k: _in(x, t.items[1]) for k, x in v.items()}
    if isinstance(v, dict) and t.base == "STRUCT":
        return {k: _in(x, t.field(k) or T.STRING) for k, x in v.items()}
    return v
