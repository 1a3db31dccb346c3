"""Connect data <-> Protobuf after Confluent's `ProtobufData` (its default settings), for
`ProtobufConverter`:
- writing: a STRUCT becomes a proto3 message named after the schema's last name part (package: the
  rest; unnamed: `ConnectDefault1`, nested ones `ConnectDefault2`, …; a nested type named like its
  field gets a `Message` suffix), defined inside the message that uses it. Field numbers come from the
  `io.confluent.connect.protobuf.Tag` parameter, else count up from 1. INT8/INT16/INT32 → int32,
  INT64 → int64 (`io.confluent.connect.protobuf.Type` may name another integer type), FLOAT32 →
  float, FLOAT64 → double, BOOLEAN → bool, STRING → string, BYTES → bytes, ARRAY → a `repeated`
  field, MAP → a `repeated` nested `<Name>Entry` message with `key = 1` and `value = 2` (as
  ProtobufData writes it: no `map_entry` option), Timestamp → `google.protobuf.Timestamp`, Decimal →
  `confluent.type.Decimal`, Date → `google.type.Date`, Time → `google.type.TimeOfDay`. INT8/INT16 and
  a Decimal's precision and scale go in the field's `(confluent.field_meta)` params (`connect.type`,
  `precision`, `scale`), importing `confluent/meta.proto`. Null values are left unset.
- reading: a message is a STRUCT named by the message's simple name, every field optional and
  carrying its number as `io.confluent.connect.protobuf.Tag`; int32/sint32/sfixed32 → INT32, the other
  integers → INT64 (non-default kinds named in `io.confluent.connect.protobuf.Type`), enums → STRING
  (symbols in `io.confluent.connect.protobuf.Enum.<SYMBOL>` parameters), repeated → ARRAY, map fields
  → MAP, a oneof → an optional STRUCT field named after the oneof (schema name
  `io.confluent.connect.protobuf.Union.<oneof>`), the logical messages above → their Connect types
  (`connect.type` int8/int16 → INT8/INT16), other messages → nested STRUCTs.

Not done: non-STRUCT root schemas (Confluent's wrapper types), ProtobufData's optional settings
(`enhanced.protobuf.schema.support`, wrappers for nullables, `optional` for nullables, …).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry.confluent import meta_pb2
from confluent_kafka.schema_registry.confluent.type.decimal_utils import to_proto_decimal
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from riverlog.connect import data as d
from riverlog.connect.data import Schema, SchemaBuilder, Struct
from riverlog.connect.errors import DataException
from riverlog.schema.protobuf import well_known_files

NAMESPACE = "io.confluent.connect.protobuf"
TAG = f"{NAMESPACE}.Tag"
TYPE = f"{NAMESPACE}.Type"
ENUM = f"{NAMESPACE}.Enum"
UNION_PREFIX = f"{NAMESPACE}.Union."
DEFAULT_NAME = "ConnectDefault"
TIMESTAMP_TYPE = "google.protobuf.Timestamp"
TIMESTAMP_FILE = "google/protobuf/timestamp.proto"
# Connect logical types -> (message, file), as ProtobufData maps them
_LOGICAL_MESSAGES = {
    d.TIMESTAMP_NAME: (TIMESTAMP_TYPE, TIMESTAMP_FILE),
    d.DECIMAL_NAME: ("confluent.type.Decimal", "confluent/type/decimal.proto"),
    d.DATE_NAME: ("google.type.Date", "google/type/date.proto"),
    d.TIME_NAME: ("google.type.TimeOfDay", "google/type/timeofday.proto"),
}
META_FILE = "confluent/meta.proto"
FIELD_META: Any = getattr(meta_pb2, "field_meta")  # noqa: B009 - generated code, untyped
CONNECT_TYPE = "connect.type"
PRECISION_PARAM = "connect.decimal.precision"

F = descriptor_pb2.FieldDescriptorProto
FD = descriptor.FieldDescriptor
_SCALAR_TYPES = {
    "int32": F.TYPE_INT32,
    "sint32": F.TYPE_SINT32,
    "sfixed32": F.TYPE_SFIXED32,
    "uint32": F.TYPE_UINT32,
    "fixed32": F.TYPE_FIXED32,
    "int64": F.TYPE_INT64,
    "sint64": F.TYPE_SINT64,
    "sfixed64": F.TYPE_SFIXED64,
    "uint64": F.TYPE_UINT64,
    "fixed64": F.TYPE_FIXED64,
    "float": F.TYPE_FLOAT,
    "double": F.TYPE_DOUBLE,
    "bool": F.TYPE_BOOL,
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
}
_DEFAULT_KIND = {
    d.Type.INT8: "int32",
    d.Type.INT16: "int32",
    d.Type.INT32: "int32",
    d.Type.INT64: "int64",
    d.Type.FLOAT32: "float",
    d.Type.FLOAT64: "double",
    d.Type.BOOLEAN: "bool",
    d.Type.STRING: "string",
    d.Type.BYTES: "bytes",
}


# -- Connect schema -> .proto ---------------------------------------------------------------------


@dataclass
class ProtoMapping:
    """A Connect schema's file descriptor, and the full name of its message."""

    file: descriptor_pb2.FileDescriptorProto
    full_name: str
    pool: descriptor_pool.DescriptorPool = field(init=False)

    def __post_init__(self) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        for known in well_known_files():
            if known.name != self.file.name:
                self.pool.Add(known)
        try:
            self.pool.Add(self.file)
            self.message_class = message_factory.GetMessageClass(
                self.pool.FindMessageTypeByName(self.full_name)
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise DataException(f"Invalid protobuf schema definition: {exc}") from None


def to_proto(schema: Schema) -> ProtoMapping:
    """Confluent's `ProtobufData.fromConnectSchema` for a STRUCT root."""
    if schema.type is not d.Type.STRUCT:
        raise DataException(f"Unsupported root schema of type {schema.type.name}")
    names = _Names()
    full = names.name_or_default(schema.name)
    package, _, name = full.rpartition(".")
    fdp = descriptor_pb2.FileDescriptorProto(name="connect.proto", syntax="proto3")
    if package:
        fdp.package = package
    deps: set[str] = set()
    fdp.message_type.append(_message(schema, name, f".{full}", names, deps))
    fdp.dependency.extend(sorted(deps))
    return ProtoMapping(fdp, full)


class _Names:
    def __init__(self) -> None:
        self.index = 0

    def name_or_default(self, name: str | None) -> str:
        if name:
            return name
        self.index += 1
        return f"{DEFAULT_NAME}{self.index}"

    def unqualified(self, name: str | None) -> str:
        return self.name_or_default(name).rpartition(".")[2]


def _message(
    schema: Schema, name: str, full: str, names: _Names, deps: set[str]
) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    index = 1
    for f in schema.fields:
        tag_param = f.schema.params.get(TAG)
        if tag_param is not None:
            tag = int(tag_param)
        else:
            tag, index = index, index + 1
        message.field.append(_field(message, full, f.name, tag, f.schema, names, deps))
    return message


def _field(
    message: descriptor_pb2.DescriptorProto,
    scope: str,
    name: str,
    tag: int,
    schema: Schema,
    names: _Names,
    deps: set[str],
) -> descriptor_pb2.FieldDescriptorProto:
    out = F(name=name, number=tag, label=F.LABEL_OPTIONAL)
    if schema.type in (d.Type.ARRAY, d.Type.MAP):
        out.label = F.LABEL_REPEATED
    if schema.type is d.Type.ARRAY:
        assert schema.value_schema is not None
        schema = schema.value_schema
        if schema.type is d.Type.ARRAY:
            raise DataException("Array cannot be nested")
    meta: dict[str, str] = {}
    if schema.name in _LOGICAL_MESSAGES:
        message_name, file = _LOGICAL_MESSAGES[schema.name]
        out.type, out.type_name = F.TYPE_MESSAGE, f".{message_name}"
        deps.add(file)
        if schema.name == d.DECIMAL_NAME:
            params = schema.params
            if PRECISION_PARAM in params:
                meta["precision"] = params[PRECISION_PARAM]
            if d.DECIMAL_SCALE in params:
                meta["scale"] = params[d.DECIMAL_SCALE]
    elif schema.type is d.Type.STRUCT:
        type_name = names.unqualified(schema.name)
        if type_name == name:
            type_name += "Message"  # a message type and a field may not share a name
        if not any(n.name == type_name for n in message.nested_type):
            nested = _message(schema, type_name, f"{scope}.{type_name}", names, deps)
            message.nested_type.append(nested)
        out.type, out.type_name = F.TYPE_MESSAGE, f"{scope}.{type_name}"
    elif schema.type is d.Type.MAP:
        entry_name = _map_entry(names.unqualified(schema.name))
        entry = descriptor_pb2.DescriptorProto(name=entry_name)
        assert schema.key_schema is not None and schema.value_schema is not None
        entry_scope = f"{scope}.{entry_name}"
        entry.field.append(_field(entry, entry_scope, "key", 1, schema.key_schema, names, deps))
        entry.field.append(_field(entry, entry_scope, "value", 2, schema.value_schema, names, deps))
        message.nested_type.append(entry)
        out.type, out.type_name = F.TYPE_MESSAGE, entry_scope
    else:
        kind = schema.params.get(TYPE, _DEFAULT_KIND[schema.type])
        if kind not in _SCALAR_TYPES:
            raise DataException(f"unknown protobuf type {kind!r} in {TYPE}")
        out.type = _SCALAR_TYPES[kind]
        if schema.type in (d.Type.INT8, d.Type.INT16):
            meta[CONNECT_TYPE] = schema.type.name.lower()
    if meta:
        # ProtobufData's field metadata: `[(confluent.field_meta) = {params: …}]`
        out.options.Extensions[FIELD_META].params.update(meta)
        deps.add(META_FILE)
    return out


def _map_entry(name: str) -> str:
    """Confluent's `toMapEntry`: lower_underscore to UpperCamel, then `Entry`."""
    if "_" in name:
        name = "".join(part[:1].upper() + part[1:] for part in name.lower().split("_"))
    return name + "Entry"


def to_message(mapping: ProtoMapping, schema: Schema, value: Struct) -> Message:
    message = mapping.message_class()
    _fill(message, schema, value)
    return message


def _fill(message: Message, schema: Schema, value: Struct) -> None:
    for f in schema.fields:
        item = value.get(f.name)
        if item is not None:
            _set(message, f.name, f.schema, item)


def _set(message: Message, name: str, schema: Schema, value: Any) -> None:
    if schema.type is d.Type.ARRAY:
        assert schema.value_schema is not None
        target = getattr(message, name)
        for item in value:
            if item is not None:
                _append(target, schema.value_schema, item)
        return
    if schema.type is d.Type.MAP:
        entries = getattr(message, name)
        assert schema.key_schema is not None and schema.value_schema is not None
        for key, item in value.items():
            entry = entries.add()
            if key is not None:
                _set(entry, "key", schema.key_schema, key)
            if item is not None:
                _set(entry, "value", schema.value_schema, item)
        return
    if schema.name in _LOGICAL_MESSAGES:
        _logical_to_message(getattr(message, name), schema, value)
    elif schema.type is d.Type.STRUCT:
        _fill(getattr(message, name), schema, value)
    else:
        setattr(message, name, value)


def _append(target: Any, schema: Schema, value: Any) -> None:
    if schema.name in _LOGICAL_MESSAGES:
        _logical_to_message(target.add(), schema, value)
    elif schema.type is d.Type.STRUCT:
        _fill(target.add(), schema, value)
    else:
        target.append(value)


def _logical_to_message(target: Any, schema: Schema, value: Any) -> None:
    """ProtobufData's logical converters: Timestamp, confluent.type.Decimal (the unscaled value's
    two's-complement bytes, its precision and scale), google.type.Date, google.type.TimeOfDay."""
    if schema.name == d.TIMESTAMP_NAME:
        target.FromMilliseconds(d.timestamp_to_int(value))
    elif schema.name == d.DECIMAL_NAME:
        encoded = to_proto_decimal(value)
        target.value, target.precision, target.scale = (
            encoded.value,
            encoded.precision,
            encoded.scale,
        )
    elif schema.name == d.DATE_NAME:
        day = value.date() if isinstance(value, dt.datetime) else value
        target.year, target.month, target.day = day.year, day.month, day.day
    else:
        millis = d.time_to_int(value)
        target.hours, rest = divmod(millis, 3_600_000)
        target.minutes, rest = divmod(rest, 60_000)
        target.seconds, ms = divmod(rest, 1000)
        target.nanos = ms * 1_000_000


def _logical_from_message(schema: Schema, raw: Any) -> Any:
    if schema.name == d.TIMESTAMP_NAME:
        return d.timestamp_from_int(raw.ToMilliseconds())
    if schema.name == d.DECIMAL_NAME:
        unscaled = int.from_bytes(raw.value, "big", signed=True)
        value = decimal.Decimal(unscaled).scaleb(-raw.scale)
        scale = int(schema.params.get(d.DECIMAL_SCALE, raw.scale))
        return value.quantize(decimal.Decimal(1).scaleb(-scale))
    if schema.name == d.DATE_NAME:
        return dt.date(raw.year, raw.month, raw.day)
    millis = (
        raw.hours * 3_600_000 + raw.minutes * 60_000 + raw.seconds * 1000 + raw.nanos // 1_000_000
    )
    return d.time_from_int(millis)


# -- descriptor -> Connect ------------------------------------------------------------------------


def to_connect_schema(message: descriptor.Descriptor) -> Schema:
    """Confluent's `ProtobufData.toConnectSchema` (default settings) for one message."""
    b = SchemaBuilder.struct().name(message.name)
    for oneof in message.oneofs:
        if _synthetic(oneof):
            continue
        union = SchemaBuilder.struct().name(UNION_PREFIX + oneof.name)
        for member in oneof.fields:
            union.field(member.name, _field_schema(member))
        b.field(oneof.name, union.optional().build())
    for f in message.fields:
        if f.containing_oneof is not None and not _synthetic(f.containing_oneof):
            continue
        b.field(f.name, _field_schema(f))
    return b.build()


def _synthetic(oneof: descriptor.OneofDescriptor) -> bool:
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _field_schema(f: descriptor.FieldDescriptor) -> Schema:
    b: SchemaBuilder
    message = f.message_type
    is_map = _is_map(f)
    if is_map:
        assert message is not None
        key, value = message.fields[0], message.fields[1]
        b = SchemaBuilder.map(_field_schema(key), _field_schema(value)).name(
            _map_field(message.name)
        )
    elif message is not None and message.full_name == TIMESTAMP_TYPE:
        b = SchemaBuilder.of(d.timestamp_schema())
    elif message is not None and message.full_name == "confluent.type.Decimal":
        meta = _field_meta(f)
        b = SchemaBuilder.of(d.decimal_schema(int(meta.get("scale", "0"))))
        if "precision" in meta:
            b.parameter(PRECISION_PARAM, meta["precision"])
    elif message is not None and message.full_name == "google.type.Date":
        b = SchemaBuilder.of(d.date_schema())
    elif message is not None and message.full_name == "google.type.TimeOfDay":
        b = SchemaBuilder.of(d.time_schema())
    elif message is not None:
        b = SchemaBuilder.of(to_connect_schema(message))
    elif f.type == FD.TYPE_ENUM:
        b = SchemaBuilder(d.Type.STRING).parameter(ENUM, f.enum_type.name)
        for value in f.enum_type.values:
            b.parameter(f"{ENUM}.{value.name}", str(value.number))
    else:
        kind = _kind_name(f.type)
        if kind in ("int32", "sint32", "sfixed32"):
            connect_type = _field_meta(f).get(CONNECT_TYPE)
            b = SchemaBuilder(
                {"int8": d.Type.INT8, "int16": d.Type.INT16}.get(connect_type or "", d.Type.INT32)
            )
        elif kind in ("uint32", "fixed32", "int64", "uint64", "sint64", "fixed64", "sfixed64"):
            b = SchemaBuilder(d.Type.INT64)
        else:
            b = SchemaBuilder(
                {
                    "float": d.Type.FLOAT32,
                    "double": d.Type.FLOAT64,
                    "bool": d.Type.BOOLEAN,
                    "string": d.Type.STRING,
                    "bytes": d.Type.BYTES,
                }[kind]
            )
        if kind not in ("int32", "int64", "float", "double", "bool", "string", "bytes"):
            b.parameter(TYPE, kind)
    if f.is_repeated and not is_map:
        b = SchemaBuilder.array(b.optional().build())
    b.optional()
    b.parameter(TAG, str(f.number))
    return b.build()


def _field_meta(f: descriptor.FieldDescriptor) -> dict[str, str]:
    """The field's `(confluent.field_meta)` params (ProtobufData's Connect metadata)."""
    options = f.GetOptions()
    if not options.HasExtension(FIELD_META):
        return {}
    return dict(options.Extensions[FIELD_META].params)


def _is_map(f: descriptor.FieldDescriptor) -> bool:
    """Confluent's `isMapDescriptor`: a repeated `…Entry` message of a `key` and a `value`."""
    message = f.message_type
    if not f.is_repeated or message is None or not message.name.endswith("Entry"):
        return False
    fields = message.fields
    return (
        len(fields) == 2
        and [x.name for x in fields] == ["key", "value"]
        and not any(x.is_repeated for x in fields)
    )


def _map_field(entry: str) -> str:
    """Confluent's `toMapField`: `Entry` dropped, UpperCamel to lower_underscore."""
    name = entry.removesuffix("Entry")
    out = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return out.lstrip("_")


def _kind_name(kind: int) -> str:
    return {v: k for k, v in _SCALAR_TYPES.items()}[kind]


def to_connect_value(schema: Schema, message: Message) -> Struct:
    out = Struct(schema)
    for f in schema.fields:
        fs = f.schema
        if fs.name is not None and fs.name.startswith(UNION_PREFIX):
            chosen = message.WhichOneof(f.name)
            if chosen is not None:
                union = Struct(fs)
                member = fs.field(chosen)
                assert member is not None
                union._values[member.index] = _value(member.schema, getattr(message, chosen))
                out._values[f.index] = union
            continue
        descriptor_field = message.DESCRIPTOR.fields_by_name[f.name]
        if (
            descriptor_field.message_type is not None
            and not descriptor_field.is_repeated
            and not message.HasField(f.name)
        ):
            continue  # an unset message field is null
        out._values[f.index] = _value(fs, getattr(message, f.name))
    return out


def _value(schema: Schema, raw: Any) -> Any:
    if schema.type is d.Type.ARRAY:
        assert schema.value_schema is not None
        return [_value(schema.value_schema, item) for item in raw]
    if schema.type is d.Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        # a protobuf map, or ProtobufData's repeated `…Entry` messages
        pairs = raw.items() if hasattr(raw, "items") else [(e.key, e.value) for e in raw]
        return {_value(schema.key_schema, k): _value(schema.value_schema, v) for k, v in pairs}
    if schema.name in _LOGICAL_MESSAGES:
        return _logical_from_message(schema, raw)
    if schema.type is d.Type.STRUCT:
        return to_connect_value(schema, raw)
    if schema.params.get(ENUM) is not None:
        by_number = {int(v): k.rpartition(".")[2] for k, v in schema.params.items() if k != ENUM}
        return by_number.get(raw, str(raw))
    return raw
