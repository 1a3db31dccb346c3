"""The PROTOBUF and PROTOBUF_NOSR formats: rows as protobuf messages built from the columns.

The message is what ksqlDB derives from a schema (Confluent's ProtobufData from a Connect
schema): proto3, `message ConnectDefault1` with one field per column, numbered from 1 in column
order (BOOLEAN bool, INT int32, BIGINT int64, DOUBLE double, STRING string, BYTES bytes, ARRAY
repeated, MAP<STRING, V> map, STRUCT a nested message `ConnectDefault<n>`). Keys are always a
message (several key columns are its fields). proto3 has no NULL scalars: a NULL column is not
set and reads back as the type's default (0, "", false), as ksqlDB's default nullable
representation does; a NULL struct stays NULL. With `VALUE_PROTOBUF_NULLABLE_REPRESENTATION`
(`KEY_…`) `OPTIONAL` the top-level scalars are proto3 `optional` fields, with `WRAPPER`
`google.protobuf.*Value` wrappers: NULL then round-trips.

PROTOBUF writes Confluent's wire format through the registry (riverlog.schema.serdes.ProtobufSerde,
subject `<topic>-key|-value`); PROTOBUF_NOSR writes the bare message, no registry.

Invariant: each codec owns its descriptor pool, so messages of different sources never collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError

FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "BOOLEAN": FDP.TYPE_BOOL,
    "INTEGER": FDP.TYPE_INT32,
    "BIGINT": FDP.TYPE_INT64,
    "DOUBLE": FDP.TYPE_DOUBLE,
    "STRING": FDP.TYPE_STRING,
    "BYTES": FDP.TYPE_BYTES,
}
PROTOBUF_FORMATS = ("PROTOBUF", "PROTOBUF_NOSR")
_WRAPPERS = {
    "BOOLEAN": "BoolValue",
    "INTEGER": "Int32Value",
    "BIGINT": "Int64Value",
    "DOUBLE": "DoubleValue",
    "STRING": "StringValue",
    "BYTES": "BytesValue",
}
NULLABLE_REPRESENTATIONS = ("OPTIONAL", "WRAPPER")


def check_protobuf_columns(columns: Sequence[Any]) -> None:
    """Fail at statement time for a type the protobuf formats cannot hold here."""
    for c in columns:
        _check_type(c.type, c.name)


def _check_type(t: T.SqlType, where: str) -> None:
    if t.base in _SCALARS:
        return
    if t.base == "ARRAY":
        if t.items[0].base in ("ARRAY", "MAP"):
            raise SqlStatementError(
                f"The 'PROTOBUF' format does not support nested collections, column: `{where}`"
            )
        _check_type(t.items[0], where)
        return
    if t.base == "MAP":
        if t.items[0].base != "STRING":
            raise SqlStatementError(
                "PROTOBUF format only supports MAP types with STRING keys. "
                f"See https://github.com/confluentinc/ksql/issues/6177. Column: `{where}`"
            )
        if t.items[1].base in ("ARRAY", "MAP"):
            raise SqlStatementError(
                f"The 'PROTOBUF' format does not support nested collections, column: `{where}`"
            )
        _check_type(t.items[1], where)
        return
    if t.base == "STRUCT":
        for name, ft in t.fields:
            _check_type(ft, f"{where}.{name}")
        return
    raise SqlStatementError(
        f"The 'PROTOBUF' format does not support type '{t.base}' in riverlog.sql yet, "
        f"column: `{where}`"
    )


class _MessageBuilder:
    """A FileDescriptorProto for the columns: ConnectDefault1, nested ConnectDefault<n>.
    `nullable`: None (proto3 defaults), OPTIONAL (proto3 `optional` scalars) or WRAPPER
    (`google.protobuf.*Value` wrappers) for the top-level scalar fields."""

    def __init__(self, nullable: str | None = None) -> None:
        self.file = descriptor_pb2.FileDescriptorProto(
            name="ksql_row.proto", syntax="proto3", package=""
        )
        self.count = 0
        self.nullable = nullable
        if nullable == "WRAPPER":
            self.file.dependency.append("google/protobuf/wrappers.proto")

    def message(self, fields: Sequence[tuple[str, T.SqlType]], top: bool = False) -> str:
        self.count += 1
        name = f"ConnectDefault{self.count}"
        msg = self.file.message_type.add(name=name)
        self._fill(msg, fields)
        if top and self.nullable is not None:
            self._nullable(msg, fields)
        return name

    def _nullable(self, msg: Any, fields: Sequence[tuple[str, T.SqlType]]) -> None:
        for f, (_name, t) in zip(msg.field, fields, strict=True):
            if t.base not in _SCALARS:
                continue
            if self.nullable == "OPTIONAL":  # proto3 optional: a synthetic one-field oneof
                f.proto3_optional = True
                f.oneof_index = len(msg.oneof_decl)
                msg.oneof_decl.add(name=f"_{f.name}")
            else:
                f.type = FDP.TYPE_MESSAGE
                f.type_name = f".google.protobuf.{_WRAPPERS[t.base]}"

    def _fill(self, msg: Any, fields: Sequence[tuple[str, T.SqlType]]) -> None:
        for number, (fname, t) in enumerate(fields, start=1):
            f = msg.field.add(name=fname, number=number, label=FDP.LABEL_OPTIONAL)
            if t.base == "ARRAY":
                f.label = FDP.LABEL_REPEATED
                self._type(f, t.items[0])
            elif t.base == "MAP":
                entry = msg.nested_type.add(name=f"{_camel(fname)}Entry")
                entry.options.map_entry = True
                entry.field.add(
                    name="key", number=1, label=FDP.LABEL_OPTIONAL, type=FDP.TYPE_STRING
                )
                v = entry.field.add(name="value", number=2, label=FDP.LABEL_OPTIONAL)
                self._type(v, t.items[1])
                f.label = FDP.LABEL_REPEATED
                f.type = FDP.TYPE_MESSAGE
                f.type_name = f".{msg.name}.{entry.name}"
            else:
                self._type(f, t)

    def _type(self, f: Any, t: T.SqlType) -> None:
        if t.base == "STRUCT":
            f.type = FDP.TYPE_MESSAGE
            f.type_name = "." + self.message(list(t.fields))
        else:
            f.type = _SCALARS[t.base]


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:].lower() for p in name.split("_") if p) or "Field"


def message_class(columns: Sequence[Any], nullable: str | None = None) -> Any:
    """The generated message class for the columns (its own descriptor pool)."""
    builder = _MessageBuilder(nullable)
    name = builder.message([(c.name, c.type) for c in columns], top=True)
    pool = descriptor_pool.DescriptorPool()
    if nullable == "WRAPPER":
        from google.protobuf import wrappers_pb2

        wrappers = descriptor_pb2.FileDescriptorProto()
        wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
        pool.Add(wrappers)
    pool.Add(builder.file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def nullable_representation(props: dict[str, object], is_key: bool) -> str | None:
    """`KEY_|VALUE_PROTOBUF_NULLABLE_REPRESENTATION` (OPTIONAL, WRAPPER), None when not set."""
    key = f"{'KEY' if is_key else 'VALUE'}_PROTOBUF_NULLABLE_REPRESENTATION"
    value = {str(k).upper(): v for k, v in props.items()}.get(key)
    if value is None:
        return None
    rep = str(value).upper()
    if rep not in NULLABLE_REPRESENTATIONS:
        raise SqlStatementError(
            f"Invalid value {value} for property {key}: expected OPTIONAL or WRAPPER"
        )
    return rep


def _set(msg: Any, name: str, value: Any, t: T.SqlType) -> None:
    if value is None:
        return  # proto3: not set; read back as the default
    if t.base == "ARRAY":
        item = t.items[0]
        target = getattr(msg, name)
        for v in value:
            if item.base == "STRUCT":
                _fill(target.add(), v, item)
            elif v is not None:
                target.append(v)
            else:
                target.append(_default(item))
    elif t.base == "MAP":
        target = getattr(msg, name)
        vt = t.items[1]
        for k, v in value.items():
            if vt.base == "STRUCT":
                _fill(target[str(k)], v, vt)
            elif v is not None:
                target[str(k)] = v
    elif t.base == "STRUCT":
        _fill(getattr(msg, name), value, t)
    else:
        setattr(msg, name, value)


def _fill(msg: Any, value: Any, t: T.SqlType) -> None:
    msg.SetInParent()
    if value is None:
        return
    for fname, ft in t.fields:
        _set(msg, fname, value.get(fname), ft)


def _default(t: T.SqlType) -> Any:
    return {"BOOLEAN": False, "STRING": "", "BYTES": b"", "DOUBLE": 0.0}.get(t.base, 0)


def _get(msg: Any, name: str, t: T.SqlType) -> Any:
    if t.base == "ARRAY":
        item = t.items[0]
        return [_struct(v, item) if item.base == "STRUCT" else v for v in getattr(msg, name)]
    if t.base == "MAP":
        vt = t.items[1]
        return {
            k: (_struct(v, vt) if vt.base == "STRUCT" else v) for k, v in getattr(msg, name).items()
        }
    if t.base == "STRUCT":
        return _struct(getattr(msg, name), t) if msg.HasField(name) else None
    return getattr(msg, name)


def _struct(msg: Any, t: T.SqlType) -> dict[str, Any]:
    return {fname: _get(msg, fname, ft) for fname, ft in t.fields}


class ProtobufRowCodec:
    """Rows (tuples) ↔ protobuf messages, framed for the registry (PROTOBUF) or bare (NOSR)."""

    def __init__(
        self, fmt: str, columns: Sequence[Any], is_key: bool, nullable: str | None = None
    ) -> None:
        check_protobuf_columns(columns)
        self.columns = list(columns)
        self.nullable = nullable
        self.cls = message_class(self.columns, nullable)
        self.serde: Any = None
        if fmt == "PROTOBUF":
            from riverlog.schema.serdes import ProtobufSerde
            from riverlog.sql.registry_formats import registry_client

            self.serde = ProtobufSerde(registry_client(), self.cls, is_key=is_key)

    def write(self, topic: str, values: tuple[Any, ...]) -> bytes | None:
        msg = self.cls()
        for c, v in zip(self.columns, values, strict=True):
            if self.nullable == "WRAPPER" and c.type.base in _SCALARS:
                if v is not None:
                    getattr(msg, c.name).value = v
            else:
                _set(msg, c.name, v, c.type)
        if self.serde is None:
            return bytes(msg.SerializeToString())
        return self.serde.serialize(topic, msg)  # type: ignore[no-any-return]

    def read(self, topic: str, data: bytes) -> tuple[Any, ...]:
        if self.serde is None:
            msg = self.cls()
            msg.ParseFromString(data)
        else:
            msg = self.serde.deserialize(topic, data)
        return tuple(T.coerce(self._get_top(msg, c), c.type) for c in self.columns)

    def _get_top(self, msg: Any, c: Any) -> Any:
        if self.nullable is not None and c.type.base in _SCALARS:
            if not msg.HasField(c.name):
                return None
            field = getattr(msg, c.name)
            return field.value if self.nullable == "WRAPPER" else field
        return _get(msg, c.name, c.type)
