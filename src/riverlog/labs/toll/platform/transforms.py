"""Two single message transforms the toll lab's connectors need and Kafka does not ship (the same job
as the community `FromJson` SMTs): they load by class path, as any SMT on Kafka Connect's plugin path.

- `ParseJson`: a record value that is JSON text (FileStreamSource lines) becomes the parsed, schemaless
  value, so Kafka's `ValueToKey` / `ExtractField$Key` can take the key out of it.
- `ApplySchema`: a schemaless JSON object (what `JsonConverter` with `schemas.enable=false` reads)
  becomes a Struct of the declared `fields` (`name:type`, `?` for optional; types are Connect's:
  string, int32, int64, float64, boolean), as the JDBC sink needs. A list or object put in a string
  field is written as compact JSON text.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from riverlog.common.configdef import NO_DEFAULT, ConfigDef, Importance, Type
from riverlog.connect import data as d
from riverlog.connect.api import ConnectRecord
from riverlog.connect.data import Schema, Struct
from riverlog.connect.errors import ConfigException, DataException
from riverlog.connect.transforms.base import Transformation

_TYPES: dict[str, tuple[Schema, Schema]] = {
    "string": (d.STRING_SCHEMA, d.OPTIONAL_STRING_SCHEMA),
    "int32": (d.INT32_SCHEMA, d.OPTIONAL_INT32_SCHEMA),
    "int64": (d.INT64_SCHEMA, d.OPTIONAL_INT64_SCHEMA),
    "float64": (d.FLOAT64_SCHEMA, d.OPTIONAL_FLOAT64_SCHEMA),
    "boolean": (d.BOOLEAN_SCHEMA, d.OPTIONAL_BOOLEAN_SCHEMA),
}


class ParseJson(Transformation):
    """Value: JSON text (str or UTF-8 bytes) → the parsed value, without a schema."""

    config_def: ClassVar[ConfigDef] = ConfigDef()

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        value = record.value
        if value is None:
            return record
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8")
        if not isinstance(value, str):
            raise DataException(f"ParseJson expects a string value, got {type(value).__name__}")
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise DataException(f"ParseJson: not JSON: {exc}") from exc
        out: ConnectRecord = record.replace(value_schema=None, value=parsed)
        return out


def parse_fields(spec: list[str], name: str | None) -> Schema:
    """`["passage_id:string", "account_id:string?", …]` → a struct schema named `name`."""
    builder = d.SchemaBuilder.struct().name(name)
    for item in spec:
        field, sep, type_name = item.strip().partition(":")
        optional = type_name.endswith("?")
        schemas = _TYPES.get(type_name.rstrip("?").lower())
        if not sep or not field or schemas is None:
            raise ConfigException(
                f"Invalid value {item} for configuration fields: expected name:type with type one "
                f"of {', '.join(_TYPES)} (optionally followed by ?)"
            )
        builder.field(field, schemas[1] if optional else schemas[0])
    return builder.build()


class ApplySchema(Transformation):
    """Value: a schemaless JSON object → a Struct of the declared fields."""

    config_def: ClassVar[ConfigDef] = (
        ConfigDef()
        .define(
            "fields",
            Type.LIST,
            NO_DEFAULT,
            None,
            Importance.HIGH,
            "The struct's fields as name:type (string, int32, int64, float64, boolean; ? = optional).",
        )
        .define("schema.name", Type.STRING, None, None, Importance.LOW, "The struct's name.")
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        self.schema = parse_fields(list(self.config["fields"]), self.config["schema.name"])

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        value = record.value
        if value is None:
            return record
        if not isinstance(value, dict):
            raise DataException(f"ApplySchema expects a JSON object, got {type(value).__name__}")
        struct = Struct(self.schema)
        for f in self.schema.fields:
            struct.put(f.name, _coerce(f.name, f.schema, value.get(f.name)))
        out: ConnectRecord = record.replace(value_schema=self.schema, value=struct)
        return out


def _coerce(name: str, schema: Schema, v: Any) -> Any:
    if v is None:
        if not schema.optional:
            raise DataException(f"ApplySchema: required field {name} is missing or null")
        return None
    kind = schema.type
    if kind is d.Type.STRING:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    if kind is d.Type.BOOLEAN:
        if not isinstance(v, bool):
            raise DataException(f"ApplySchema: field {name} is not a boolean: {v!r}")
        return v
    if kind is d.Type.FLOAT64:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise DataException(f"ApplySchema: field {name} is not a number: {v!r}")
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise DataException(f"ApplySchema: field {name} is not an integer: {v!r}")
    return v
