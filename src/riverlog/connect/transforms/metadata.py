"""SMTs that reshape a record's schema metadata or key (Kafka's names and config keys):
SetSchemaMetadata$Key/$Value and ValueToKey."""

from __future__ import annotations

from riverlog.common.configdef import ConfigDef, Importance, Type
from riverlog.connect.api import ConnectRecord
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.connect.transforms.base import KeyOrValue, Transformation
from riverlog.connect.transforms.fields import _with_replace_null
from riverlog.connect.transforms.util import require_map, require_struct, struct_value

H = Importance.HIGH


# ---------------------------------------------------------------- SetSchemaMetadata


class SetSchemaMetadata(KeyOrValue, Transformation):
    config_def = _with_replace_null(
        ConfigDef()
        .define("schema.name", Type.STRING, None, None, H, "Schema name to set.")
        .define("schema.version", Type.INT, None, None, H, "Schema version to set.")
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        schema, value = self.operating_schema(record), self.operating_value(record)
        if schema is None:
            raise DataException("Schema required for [updating schema metadata]")
        b = SchemaBuilder.of(schema)
        if self.config["schema.name"] is not None:
            b.name(self.config["schema.name"])
        if self.config["schema.version"] is not None:
            b.version(self.config["schema.version"])
        new_schema = b.build()
        if isinstance(value, Struct):
            out = Struct(new_schema)
            for f in new_schema.fields:
                out.put(f.name, value.get_without_default(f.name))
            value = out
        return self.new_record(record, new_schema, value)


class SetSchemaMetadataKey(SetSchemaMetadata):
    IS_KEY = True


class SetSchemaMetadataValue(SetSchemaMetadata):
    IS_KEY = False


# ---------------------------------------------------------------- ValueToKey


class ValueToKey(Transformation):
    config_def = _with_replace_null(
        ConfigDef().define(
            "fields",
            Type.LIST,
            None,
            None,
            H,
            "Field names on the record value to extract as the record key.",
        )
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        fields = self.config["fields"] or []
        if record.value_schema is None:
            src = require_map(record.value, "copying fields from value to key")
            return record.replace(key_schema=None, key={f: src.get(f) for f in fields})  # type: ignore[no-any-return]
        struct = require_struct(record.value, "copying fields from value to key")
        b = SchemaBuilder.struct()
        for name in fields:
            f = record.value_schema.field(name)
            if f is None:
                raise DataException(f"Field does not exist: {name}")
            b.field(name, f.schema)
        key_schema = b.build()
        key = Struct(key_schema)
        for name in fields:
            key.put(name, struct_value(struct, name, self.config["replace.null.with.default"]))
        return record.replace(key_schema=key_schema, key=key)  # type: ignore[no-any-return]
