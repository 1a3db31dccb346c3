"""Field-level SMTs (Kafka's `org.apache.kafka.connect.transforms`), each with `$Key`/`$Value` classes:
Cast, ExtractField, Flatten, HoistField, InsertField, MaskField, ReplaceField, SetSchemaMetadata,
ValueToKey. Config names and behaviour are Kafka's; schemaless records (dict values) and schemaful ones
(Struct values) are both handled, as Kafka's do.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from riverlog.common.configdef import ConfigDef, Importance, Type
from riverlog.connect import data as d
from riverlog.connect.api import ConnectRecord
from riverlog.connect.data import Schema, SchemaBuilder, Struct
from riverlog.connect.errors import ConfigException, DataException
from riverlog.connect.transforms.base import KeyOrValue, Transformation
from riverlog.connect.transforms.util import (
    copy_schema_basics,
    require_map,
    require_struct,
    struct_value,
)

H, M = Importance.HIGH, Importance.MEDIUM
_REPLACE_NULL = (
    "replace.null.with.default",
    Type.BOOLEAN,
    True,
    None,
    M,
    "Whether to replace fields that have a default value and that are null to the default value.",
)


def _with_replace_null(definition: ConfigDef) -> ConfigDef:
    return definition.define(*_REPLACE_NULL)


# ---------------------------------------------------------------- Cast

_CAST_TYPES = {
    "int8": d.Type.INT8,
    "int16": d.Type.INT16,
    "int32": d.Type.INT32,
    "int64": d.Type.INT64,
    "float32": d.Type.FLOAT32,
    "float64": d.Type.FLOAT64,
    "boolean": d.Type.BOOLEAN,
    "string": d.Type.STRING,
}


def _cast_value(value: Any, target: d.Type) -> Any:
    if value is None:
        return None
    try:
        if target in (d.Type.INT8, d.Type.INT16, d.Type.INT32, d.Type.INT64):
            if isinstance(value, str):
                return int(value.strip())
            return int(value)
        if target in (d.Type.FLOAT32, d.Type.FLOAT64):
            return float(value)
        if target is d.Type.BOOLEAN:
            if isinstance(value, str):
                return value.strip().lower() == "true"
            return bool(value)
        if target is d.Type.STRING:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (bytes, bytearray)):
                import base64

                return base64.b64encode(bytes(value)).decode()
            return str(value)
    except (TypeError, ValueError, decimal.InvalidOperation) as exc:
        raise DataException(f"Value ({value!r}) cannot be cast to {target.name}: {exc}") from None
    raise DataException(f"Unsupported cast target {target}")


class Cast(KeyOrValue, Transformation):
    config_def = _with_replace_null(
        ConfigDef().define(
            "spec",
            Type.LIST,
            None,
            None,
            H,
            "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value.",
        )
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        spec = self.config["spec"] or []
        if not spec:
            raise ConfigException("Must specify at least one field to cast.")
        self.whole: d.Type | None = None
        self.casts: dict[str, d.Type] = {}
        for item in spec:
            name, _, type_name = item.rpartition(":")
            target = _CAST_TYPES.get(type_name.strip().lower())
            if target is None:
                raise ConfigException(f"Invalid type found in casting spec: {type_name}")
            if not name:
                if len(spec) > 1:
                    raise ConfigException(
                        "Cast transformations that specify a type to cast the entire value to may only specify a single cast in their spec"
                    )
                self.whole = target
            else:
                self.casts[name.strip()] = target

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        schema, value = self.operating_schema(record), self.operating_value(record)
        if self.whole is not None:
            new_schema = (
                None
                if schema is None
                else SchemaBuilder(self.whole).build()
                if not schema.optional
                else SchemaBuilder(self.whole).optional().build()
            )
            return self.new_record(record, new_schema, _cast_value(value, self.whole))
        if schema is None:
            if value is None:
                return record
            updated = dict(require_map(value, "cast types"))
            for name, target in self.casts.items():
                if name in updated:
                    updated[name] = _cast_value(updated[name], target)
            return self.new_record(record, None, updated)
        struct = require_struct(value, "cast types") if value is not None else None
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        for f in schema.fields:
            cast_to = self.casts.get(f.name)
            if cast_to is None:
                b.field(f.name, f.schema)
            else:
                fb = SchemaBuilder(cast_to)
                b.field(f.name, (fb.optional() if f.schema.optional else fb).build())
        if schema.optional:
            b.optional()
        new_schema = b.build()
        if struct is None:
            return self.new_record(record, new_schema, None)
        out = Struct(new_schema)
        for f in schema.fields:
            v = struct_value(struct, f.name, self.config["replace.null.with.default"])
            cast_to = self.casts.get(f.name)
            out.put(f.name, _cast_value(v, cast_to) if cast_to is not None else v)
        return self.new_record(record, new_schema, out)


class CastKey(Cast):
    IS_KEY = True


class CastValue(Cast):
    IS_KEY = False


# ---------------------------------------------------------------- ExtractField


class ExtractField(KeyOrValue, Transformation):
    config_def = _with_replace_null(
        ConfigDef()
        .define("field", Type.STRING, None, None, M, "Field name to extract.")
        .define(
            "field.syntax.version",
            Type.STRING,
            "V1",
            None,
            M,
            "Field syntax version (V1: plain names).",
        )
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        name = self.config["field"]
        schema, value = self.operating_schema(record), self.operating_value(record)
        if schema is None:
            if value is None:
                return self.new_record(record, None, None)
            return self.new_record(record, None, require_map(value, "field extraction").get(name))
        f = schema.field(name)
        if f is None:
            raise DataException(f"Unknown field: {name}")
        if value is None:
            return self.new_record(record, f.schema, None)
        struct = require_struct(value, "field extraction")
        return self.new_record(
            record, f.schema, struct_value(struct, name, self.config["replace.null.with.default"])
        )


class ExtractFieldKey(ExtractField):
    IS_KEY = True


class ExtractFieldValue(ExtractField):
    IS_KEY = False


# ---------------------------------------------------------------- Flatten


class Flatten(KeyOrValue, Transformation):
    config_def = ConfigDef().define(
        "delimiter",
        Type.STRING,
        ".",
        None,
        M,
        "Delimiter to insert between field names from the input record when generating field names for the output record",
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        sep = self.config["delimiter"]
        schema, value = self.operating_schema(record), self.operating_value(record)
        if schema is None:
            if value is None:
                return record
            out: dict[str, Any] = {}
            self._flat_map(require_map(value, "flattening"), "", sep, out)
            return self.new_record(record, None, out)
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        if schema.optional:
            b.optional()
        self._flat_schema(schema, "", sep, b, False)
        new_schema = b.build()
        if value is None:
            return self.new_record(record, new_schema, None)
        s = Struct(new_schema)
        self._flat_struct(require_struct(value, "flattening"), "", sep, s)
        return self.new_record(record, new_schema, s)

    def _flat_map(self, value: dict[str, Any], prefix: str, sep: str, out: dict[str, Any]) -> None:
        for k, v in value.items():
            name = prefix + sep + k if prefix else k
            if isinstance(v, dict):
                self._flat_map(v, name, sep, out)
            else:
                out[name] = v

    def _flat_schema(
        self, schema: Schema, prefix: str, sep: str, b: SchemaBuilder, optional: bool
    ) -> None:
        for f in schema.fields:
            name = prefix + sep + f.name if prefix else f.name
            if f.schema.type is d.Type.STRUCT:
                self._flat_schema(f.schema, name, sep, b, optional or f.schema.optional)
            else:
                fs = f.schema
                if optional and not fs.optional:
                    fs = SchemaBuilder.of(fs).optional().build()
                b.field(name, fs)

    def _flat_struct(self, value: Struct | None, prefix: str, sep: str, out: Struct) -> None:
        if value is None:
            return
        for f in value.schema.fields:
            name = prefix + sep + f.name if prefix else f.name
            v = value.get(f.name)
            if f.schema.type is d.Type.STRUCT:
                self._flat_struct(v, name, sep, out)
            else:
                out.put(name, v)


class FlattenKey(Flatten):
    IS_KEY = True


class FlattenValue(Flatten):
    IS_KEY = False


# ---------------------------------------------------------------- HoistField


class HoistField(KeyOrValue, Transformation):
    config_def = ConfigDef().define(
        "field",
        Type.STRING,
        None,
        None,
        M,
        "Field name for the single field that will be created in the resulting Struct or Map.",
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        name = self.config["field"]
        schema, value = self.operating_schema(record), self.operating_value(record)
        if schema is None:
            return self.new_record(record, None, {name: value})
        new_schema = SchemaBuilder.struct().field(name, schema).build()
        return self.new_record(record, new_schema, Struct(new_schema).put(name, value))


class HoistFieldKey(HoistField):
    IS_KEY = True


class HoistFieldValue(HoistField):
    IS_KEY = False


# ---------------------------------------------------------------- InsertField


def _field_spec(spec: str | None) -> tuple[str, bool] | None:
    """Kafka's InsertField spec: `name` (optional), `name!` (required), `name?` (optional)."""
    if not spec:
        return None
    if spec.endswith("!"):
        return spec[:-1], False
    if spec.endswith("?"):
        return spec[:-1], True
    return spec, True


class InsertField(KeyOrValue, Transformation):
    config_def = _with_replace_null(
        ConfigDef()
        .define(
            "topic.field",
            Type.STRING,
            None,
            None,
            M,
            "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default).",
        )
        .define("partition.field", Type.STRING, None, None, M, "Field name for Kafka partition.")
        .define(
            "offset.field",
            Type.STRING,
            None,
            None,
            M,
            "Field name for Kafka offset - only applicable to sink connectors.",
        )
        .define("timestamp.field", Type.STRING, None, None, M, "Field name for record timestamp.")
        .define("static.field", Type.STRING, None, None, M, "Field name for static data field.")
        .define(
            "static.value",
            Type.STRING,
            None,
            None,
            M,
            "Static field value, if field name configured.",
        )
    )

    def _inserts(self, record: ConnectRecord) -> list[tuple[tuple[str, bool], Schema, Any]]:
        out = []
        for key, schema, value in (
            ("topic.field", d.STRING_SCHEMA, record.topic),
            ("partition.field", d.INT32_SCHEMA, record.kafka_partition),
            ("offset.field", d.INT64_SCHEMA, getattr(record, "kafka_offset", None)),
            (
                "timestamp.field",
                d.timestamp_schema(),
                None if record.timestamp is None else d.timestamp_from_int(record.timestamp),
            ),
            ("static.field", d.STRING_SCHEMA, self.config["static.value"]),
        ):
            spec = _field_spec(self.config[key])
            if spec is None:
                continue
            if key == "offset.field" and not hasattr(record, "kafka_offset"):
                raise DataException("Offset field can only be inserted into sink records")
            out.append((spec, schema, value))
        return out

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        schema, value = self.operating_schema(record), self.operating_value(record)
        if value is None and schema is None:
            return record  # tombstones pass through, as Kafka's
        inserts = self._inserts(record)
        if schema is None:
            updated = dict(require_map(value, "field insertion"))
            for (name, _), _, v in inserts:
                updated[name] = d.timestamp_to_int(v) if isinstance(v, dt.datetime) else v
            return self.new_record(record, None, updated)
        struct = require_struct(value, "field insertion") if value is not None else None
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        for f in schema.fields:
            b.field(f.name, f.schema)
        for (name, optional), fs, _ in inserts:
            b.field(name, SchemaBuilder.of(fs).optional().build() if optional else fs)
        if schema.optional:
            b.optional()
        new_schema = b.build()
        if struct is None:
            return self.new_record(record, new_schema, None)
        out = Struct(new_schema)
        for f in schema.fields:
            out.put(f.name, struct_value(struct, f.name, self.config["replace.null.with.default"]))
        for (name, _), _, v in inserts:
            out.put(name, v)
        return self.new_record(record, new_schema, out)


class InsertFieldKey(InsertField):
    IS_KEY = True


class InsertFieldValue(InsertField):
    IS_KEY = False


# ---------------------------------------------------------------- MaskField

_MASKS: dict[type, Any] = {bool: False, int: 0, float: 0.0, str: "", bytes: b"", list: [], dict: {}}


class MaskField(KeyOrValue, Transformation):
    config_def = (
        ConfigDef()
        .define("fields", Type.LIST, None, None, H, "Names of fields to mask.")
        .define(
            "replacement",
            Type.STRING,
            None,
            None,
            Importance.LOW,
            "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only).",
        )
    )

    def _mask(self, v: Any, schema: Schema | None) -> Any:
        if v is None:
            return None
        repl = self.config["replacement"]
        if repl is None:
            if isinstance(v, decimal.Decimal):
                return decimal.Decimal(0)
            return _MASKS.get(type(v))
        if isinstance(v, bool):
            return repl.lower() == "true"
        if isinstance(v, int):
            return int(repl)
        if isinstance(v, float):
            return float(repl)
        if isinstance(v, str):
            return repl
        raise DataException(
            f"Cannot mask value of type {type(v).__name__} with custom replacement."
        )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        fields = set(self.config["fields"] or [])
        schema, value = self.operating_schema(record), self.operating_value(record)
        if value is None:
            return record
        if schema is None:
            updated = dict(require_map(value, "masking"))
            for name in fields & set(updated):
                updated[name] = self._mask(updated[name], None)
            return self.new_record(record, None, updated)
        struct = require_struct(value, "masking")
        out = Struct(schema)
        for f in schema.fields:
            v = struct.get_without_default(f.name)
            out.put(f.name, self._mask(v, f.schema) if f.name in fields else v)
        return self.new_record(record, schema, out)


class MaskFieldKey(MaskField):
    IS_KEY = True


class MaskFieldValue(MaskField):
    IS_KEY = False


# ---------------------------------------------------------------- ReplaceField


class ReplaceField(KeyOrValue, Transformation):
    config_def = _with_replace_null(
        ConfigDef()
        .define(
            "exclude",
            Type.LIST,
            [],
            None,
            M,
            "Fields to exclude. This takes precedence over the fields to include.",
        )
        .define(
            "include",
            Type.LIST,
            [],
            None,
            M,
            "Fields to include. If specified, only these fields will be used.",
        )
        .define("renames", Type.LIST, [], None, M, "Field rename mappings.")
        .define(
            "blacklist", Type.LIST, None, None, Importance.LOW, "Deprecated. Use exclude instead."
        )
        .define(
            "whitelist", Type.LIST, None, None, Importance.LOW, "Deprecated. Use include instead."
        )
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        self.exclude = set(self.config["exclude"] or self.config["blacklist"] or [])
        self.include = set(self.config["include"] or self.config["whitelist"] or [])
        self.renames: dict[str, str] = {}
        for item in self.config["renames"] or []:
            old, sep, new = item.partition(":")
            if not sep or not old or not new:
                raise ConfigException(f"Invalid rename mapping: {item}")
            self.renames[old] = new

    def _keep(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        schema, value = self.operating_schema(record), self.operating_value(record)
        if schema is None:
            if value is None:
                return record
            src = require_map(value, "field replacement")
            return self.new_record(
                record, None, {self.renames.get(k, k): v for k, v in src.items() if self._keep(k)}
            )
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        for f in schema.fields:
            if self._keep(f.name):
                b.field(self.renames.get(f.name, f.name), f.schema)
        if schema.optional:
            b.optional()
        new_schema = b.build()
        if value is None:
            return self.new_record(record, new_schema, None)
        struct = require_struct(value, "field replacement")
        out = Struct(new_schema)
        for f in schema.fields:
            if self._keep(f.name):
                out.put(
                    self.renames.get(f.name, f.name),
                    struct_value(struct, f.name, self.config["replace.null.with.default"]),
                )
        return self.new_record(record, new_schema, out)


class ReplaceFieldKey(ReplaceField):
    IS_KEY = True


class ReplaceFieldValue(ReplaceField):
    IS_KEY = False
