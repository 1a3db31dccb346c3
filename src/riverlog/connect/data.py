"""The Connect data model, after Kafka's `org.apache.kafka.connect.data`: `Schema`, `SchemaBuilder`,
`Field`, `Struct` and the logical types Decimal, Date, Time and Timestamp.

Python values per schema type: INT8/16/32/64 -> int, FLOAT32/64 -> float, BOOLEAN -> bool, STRING -> str,
BYTES -> bytes, ARRAY -> list, MAP -> dict, STRUCT -> Struct. Logical types carry Kafka's schema names
and versions; their Python values are `decimal.Decimal`, `datetime.date`, `datetime.time` and
`datetime.datetime` (UTC), their wire values the same as Kafka's (unscaled big-endian bytes, days since
the epoch, milliseconds since midnight, milliseconds since the epoch).

Schemas are immutable once built (a `SchemaBuilder.build()` freezes one), so they hash and compare by
value and can key caches, as Kafka's `ConnectSchema` does.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from riverlog.connect.errors import DataException


class Type(enum.Enum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"

    @property
    def is_primitive(self) -> bool:
        return self not in (Type.ARRAY, Type.MAP, Type.STRUCT)


_INT_RANGES = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class Field:
    name: str
    index: int
    schema: Schema


@dataclass(frozen=True, eq=True)
class Schema:
    """An immutable Connect schema (Kafka's `ConnectSchema`)."""

    type: Type
    optional: bool = False
    default: Any = None
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    parameters: tuple[tuple[str, str], ...] | None = None
    fields: tuple[Field, ...] = ()
    key_schema: Schema | None = None
    value_schema: Schema | None = None

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.type, self.optional, self.name, self.version, self.fields))
            object.__setattr__(self, "_hash", cached)
        return cached  # type: ignore[no-any-return]

    @property
    def params(self) -> dict[str, str]:
        return dict(self.parameters or ())

    def field(self, name: str) -> Field | None:
        if self.type is not Type.STRUCT:
            raise DataException("Cannot look up fields on non-struct type")
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def __repr__(self) -> str:
        return f"Schema{{{self.name + ':' if self.name else ''}{self.type.name}}}"


# Kafka's `Schema.*_SCHEMA` constants.
INT8_SCHEMA = Schema(Type.INT8)
INT16_SCHEMA = Schema(Type.INT16)
INT32_SCHEMA = Schema(Type.INT32)
INT64_SCHEMA = Schema(Type.INT64)
FLOAT32_SCHEMA = Schema(Type.FLOAT32)
FLOAT64_SCHEMA = Schema(Type.FLOAT64)
BOOLEAN_SCHEMA = Schema(Type.BOOLEAN)
STRING_SCHEMA = Schema(Type.STRING)
BYTES_SCHEMA = Schema(Type.BYTES)
OPTIONAL_INT8_SCHEMA = Schema(Type.INT8, optional=True)
OPTIONAL_INT16_SCHEMA = Schema(Type.INT16, optional=True)
OPTIONAL_INT32_SCHEMA = Schema(Type.INT32, optional=True)
OPTIONAL_INT64_SCHEMA = Schema(Type.INT64, optional=True)
OPTIONAL_FLOAT32_SCHEMA = Schema(Type.FLOAT32, optional=True)
OPTIONAL_FLOAT64_SCHEMA = Schema(Type.FLOAT64, optional=True)
OPTIONAL_BOOLEAN_SCHEMA = Schema(Type.BOOLEAN, optional=True)
OPTIONAL_STRING_SCHEMA = Schema(Type.STRING, optional=True)
OPTIONAL_BYTES_SCHEMA = Schema(Type.BYTES, optional=True)


class SchemaBuilder:
    """Kafka's `SchemaBuilder`: chainable, `build()` returns an immutable `Schema`."""

    def __init__(self, type: Type) -> None:
        self._type = type
        self._optional = False
        self._default: Any = None
        self._name: str | None = None
        self._version: int | None = None
        self._doc: str | None = None
        self._params: dict[str, str] | None = None
        self._fields: list[Field] = []
        self._key: Schema | None = None
        self._value: Schema | None = None

    @staticmethod
    def struct() -> SchemaBuilder:
        return SchemaBuilder(Type.STRUCT)

    @staticmethod
    def array(value_schema: Schema) -> SchemaBuilder:
        b = SchemaBuilder(Type.ARRAY)
        b._value = value_schema
        return b

    @staticmethod
    def map(key_schema: Schema, value_schema: Schema) -> SchemaBuilder:
        b = SchemaBuilder(Type.MAP)
        b._key, b._value = key_schema, value_schema
        return b

    @staticmethod
    def of(schema: Schema) -> SchemaBuilder:
        """A builder initialised from an existing schema (for SMTs that derive schemas)."""
        b = SchemaBuilder(schema.type)
        b._optional, b._default, b._name = schema.optional, schema.default, schema.name
        b._version, b._doc = schema.version, schema.doc
        b._params = schema.params if schema.parameters is not None else None
        b._fields = list(schema.fields)
        b._key, b._value = schema.key_schema, schema.value_schema
        return b

    def optional(self) -> SchemaBuilder:
        self._optional = True
        return self

    def required(self) -> SchemaBuilder:
        self._optional = False
        return self

    def default_value(self, value: Any) -> SchemaBuilder:
        self._default = value
        return self

    def name(self, name: str | None) -> SchemaBuilder:
        self._name = name
        return self

    def version(self, version: int | None) -> SchemaBuilder:
        self._version = version
        return self

    def doc(self, doc: str | None) -> SchemaBuilder:
        self._doc = doc
        return self

    def parameter(self, key: str, value: str) -> SchemaBuilder:
        if self._params is None:
            self._params = {}
        self._params[key] = value
        return self

    def parameters(self, params: Mapping[str, str]) -> SchemaBuilder:
        for k, v in params.items():
            self.parameter(k, v)
        return self

    def field(self, name: str, schema: Schema) -> SchemaBuilder:
        if self._type is not Type.STRUCT:
            raise DataException("Cannot create fields on type " + self._type.name)
        if any(f.name == name for f in self._fields):
            raise DataException(f"Cannot create field because of field name duplication {name}")
        self._fields.append(Field(name, len(self._fields), schema))
        return self

    def build(self) -> Schema:
        schema = Schema(
            self._type,
            self._optional,
            None,
            self._name,
            self._version,
            self._doc,
            tuple(self._params.items()) if self._params is not None else None,
            tuple(self._fields),
            self._key,
            self._value,
        )
        if self._default is not None:
            validate_value(schema, self._default)
            object.__setattr__(schema, "default", self._default)
        return schema


class Struct:
    """A record value of a STRUCT schema (Kafka's `Struct`): fields by name, validated on `put`."""

    __slots__ = ("_values", "schema")

    def __init__(self, schema: Schema) -> None:
        if schema.type is not Type.STRUCT:
            raise DataException("Not a struct schema: " + repr(schema))
        self.schema = schema
        self._values: list[Any] = [None] * len(schema.fields)

    def _field(self, name: str) -> Field:
        f = self.schema.field(name)
        if f is None:
            raise DataException(f"{name} is not a valid field name")
        return f

    def put(self, name: str, value: Any) -> Struct:
        f = self._field(name)
        validate_value(f.schema, value, name)
        self._values[f.index] = value
        return self

    def get(self, name: str) -> Any:
        f = self._field(name)
        value = self._values[f.index]
        return f.schema.default if value is None else value

    def get_without_default(self, name: str) -> Any:
        return self._values[self._field(name).index]

    def validate(self) -> None:
        for f in self.schema.fields:
            validate_value(f.schema, self._values[f.index], f.name)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: self._values[f.index] for f in self.schema.fields}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Struct)
            and self.schema == other.schema
            and self._values == other._values
        )

    def __hash__(self) -> int:
        return hash((self.schema, tuple(repr(v) for v in self._values)))

    def __repr__(self) -> str:
        inner = ",".join(f"{f.name}={self._values[f.index]!r}" for f in self.schema.fields)
        return f"Struct{{{inner}}}"


# ---------------------------------------------------------------- logical types (Kafka's names)

DECIMAL_NAME = "org.apache.kafka.connect.data.Decimal"
DATE_NAME = "org.apache.kafka.connect.data.Date"
TIME_NAME = "org.apache.kafka.connect.data.Time"
TIMESTAMP_NAME = "org.apache.kafka.connect.data.Timestamp"
DECIMAL_SCALE = "scale"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)


def decimal_schema(scale: int, *, optional: bool = False) -> Schema:
    b = SchemaBuilder(Type.BYTES).name(DECIMAL_NAME).version(1)
    b.parameter(DECIMAL_SCALE, str(scale))
    return (b.optional() if optional else b).build()


def date_schema(*, optional: bool = False) -> Schema:
    b = SchemaBuilder(Type.INT32).name(DATE_NAME).version(1)
    return (b.optional() if optional else b).build()


def time_schema(*, optional: bool = False) -> Schema:
    b = SchemaBuilder(Type.INT32).name(TIME_NAME).version(1)
    return (b.optional() if optional else b).build()


def timestamp_schema(*, optional: bool = False) -> Schema:
    b = SchemaBuilder(Type.INT64).name(TIMESTAMP_NAME).version(1)
    return (b.optional() if optional else b).build()


def decimal_to_bytes(schema: Schema, value: decimal.Decimal) -> bytes:
    """Kafka's `Decimal.fromLogical`: the unscaled value, big-endian two's complement, minimal length."""
    scale = int(schema.params.get(DECIMAL_SCALE, "0"))
    if value.as_tuple().exponent != -scale:
        raise DataException(
            f"Decimal value has mismatching scale for given Decimal schema: expected {scale}"
        )
    unscaled = int(value.scaleb(scale))
    length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return unscaled.to_bytes(length, "big", signed=True)


def decimal_from_bytes(schema: Schema, data: bytes) -> decimal.Decimal:
    scale = int(schema.params.get(DECIMAL_SCALE, "0"))
    return decimal.Decimal(int.from_bytes(data, "big", signed=True)).scaleb(-scale)


def date_to_int(value: dt.date) -> int:
    if isinstance(value, dt.datetime):
        value = value.date()
    return (value - _EPOCH_DATE).days


def date_from_int(days: int) -> dt.date:
    return _EPOCH_DATE + dt.timedelta(days=days)


def time_to_int(value: dt.time) -> int:
    return (
        value.hour * 3_600_000
        + value.minute * 60_000
        + value.second * 1000
        + value.microsecond // 1000
    )


def time_from_int(millis: int) -> dt.time:
    if not 0 <= millis < 86_400_000:
        raise DataException(
            "Kafka Connect Time type should not have any date fields set to non-zero values."
        )
    s, ms = divmod(millis, 1000)
    return dt.time(s // 3600, (s // 60) % 60, s % 60, ms * 1000)


def timestamp_to_int(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def timestamp_from_int(millis: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=millis)


_LOGICAL_PY: dict[str, tuple[type, ...]] = {
    DECIMAL_NAME: (decimal.Decimal,),
    DATE_NAME: (dt.date,),
    TIME_NAME: (dt.time,),
    TIMESTAMP_NAME: (dt.datetime,),
}

_PY_TYPES: dict[Type, tuple[type, ...]] = {
    Type.INT8: (int,),
    Type.INT16: (int,),
    Type.INT32: (int,),
    Type.INT64: (int,),
    Type.FLOAT32: (float, int),
    Type.FLOAT64: (float, int),
    Type.BOOLEAN: (bool,),
    Type.STRING: (str,),
    Type.BYTES: (bytes, bytearray, memoryview),
    Type.ARRAY: (list, tuple),
    Type.MAP: (dict,),
    Type.STRUCT: (Struct,),
}


def validate_value(schema: Schema, value: Any, field_name: str | None = None) -> None:
    """Kafka's `ConnectSchema.validateValue`: raises DataException when `value` does not fit."""
    where = f' for field: "{field_name}"' if field_name else ""
    if value is None:
        if not schema.optional and schema.default is None:
            raise DataException(
                f"Invalid value: null used for required field{where}, schema type: {schema.type.name}"
            )
        return
    expected = _LOGICAL_PY.get(schema.name or "") or _PY_TYPES[schema.type]
    if isinstance(value, bool) and schema.type is not Type.BOOLEAN:
        expected = ()
    if not _is_instance(value, expected):
        raise DataException(
            f"Invalid Java object for schema with type {schema.type.name}: {type(value).__name__}{where}"
        )
    if schema.name in _LOGICAL_PY:
        return
    bounds = _INT_RANGES.get(schema.type)
    if bounds is not None and not bounds[0] <= int(value) <= bounds[1]:
        raise DataException(f"Value {value} out of range for {schema.type.name}{where}")
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        items: list[Any] = list(value)
        for item in items:
            validate_value(schema.value_schema, item)
    elif schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        entries: dict[Any, Any] = dict(value)
        for k, v in entries.items():
            validate_value(schema.key_schema, k)
            validate_value(schema.value_schema, v)
    elif schema.type is Type.STRUCT:
        struct: Struct = value
        if struct.schema != schema:
            raise DataException(f"Struct schemas do not match{where}.")
        struct.validate()


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types)


def infer_schema(value: Any) -> Schema | None:
    """The schema Kafka's `Values.inferSchema` gives a schemaless value (None when it cannot)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN_SCHEMA
    if isinstance(value, int):
        return INT64_SCHEMA if not -(2**31) <= value < 2**31 else INT32_SCHEMA
    if isinstance(value, float):
        return FLOAT64_SCHEMA
    if isinstance(value, str):
        return STRING_SCHEMA
    if isinstance(value, (bytes, bytearray)):
        return BYTES_SCHEMA
    if isinstance(value, Struct):
        return value.schema
    return None


def struct_from_mapping(schema: Schema, values: Mapping[str, Any]) -> Struct:
    """A Struct with `values` put field by field (unknown names raise)."""
    s = Struct(schema)
    for k, v in values.items():
        s.put(k, v)
    return s


def schema_fields(pairs: Iterable[tuple[str, Schema]], name: str | None = None) -> Schema:
    b = SchemaBuilder.struct().name(name)
    for n, s in pairs:
        b.field(n, s)
    return b.build()


@dataclass
class SchemaAndValue:
    schema: Schema | None
    value: Any = field(default=None)
