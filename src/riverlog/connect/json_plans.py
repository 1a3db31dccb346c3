"""Per-schema conversion functions for `JsonConverter`, compiled once per schema.

`to_json_plan(schema, generic)` returns a function equal to `generic(schema, value)` (the converter's
recursive `_to_json`), and `to_connect_plan(schema, generic)` one equal to `generic(schema, node)`
(`_to_connect`). Primitive and struct schemas get direct code: a value of the exact expected Python type
passes through, a struct is walked by field index; anything else (None, defaults, logical types, arrays,
maps, a value of another type and so the error) goes to the generic function; Decimal (as base64 bytes),
Timestamp, Date and Time values of their exact Python type are converted directly, so results and errors are
the generic ones. Stateless: a plan holds only its schema and the generic function.
"""

from __future__ import annotations

import datetime as dt
import decimal
from base64 import b64encode
from collections.abc import Callable
from typing import Any

from riverlog.connect import data as d
from riverlog.connect.data import Schema, Struct
from riverlog.connect.errors import DataException

Generic = Callable[[Schema, Any], Any]
Plan = Callable[[Any], Any]

_LOGICAL = frozenset((d.DECIMAL_NAME, d.DATE_NAME, d.TIME_NAME, d.TIMESTAMP_NAME))
# The Python type a JSON node or Connect value has when it needs no conversion, per schema type.
_PASS_TYPES: dict[d.Type, type] = {
    d.Type.INT8: int,
    d.Type.INT16: int,
    d.Type.INT32: int,
    d.Type.INT64: int,
    d.Type.BOOLEAN: bool,
    d.Type.STRING: str,
    d.Type.FLOAT64: float,
}


def _generic(schema: Schema, generic: Generic) -> Plan:
    return lambda value: generic(schema, value)


def _passing(schema: Schema, generic: Generic, kind: type) -> Plan:
    def plan(value: Any) -> Any:
        if value.__class__ is kind:  # exact type: not bool for ints, not a subclass
            return value
        return generic(schema, value)

    return plan


def _logical_to_json_plan(schema: Schema, generic: Generic, numeric_decimals: bool) -> Plan:
    name = schema.name
    if name == d.DECIMAL_NAME and not numeric_decimals:
        scale = int(schema.params.get(d.DECIMAL_SCALE, "0"))
        exponent = -scale

        def decimal_plan(value: Any) -> Any:
            if value.__class__ is not decimal.Decimal or value.as_tuple().exponent != exponent:
                return generic(schema, value)  # None, another type, or the scale error
            unscaled = int(value.scaleb(scale))
            length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
            return b64encode(unscaled.to_bytes(length, "big", signed=True)).decode("ascii")

        return decimal_plan
    for logical, kind, to_int in (
        (d.TIMESTAMP_NAME, dt.datetime, d.timestamp_to_int),
        (d.DATE_NAME, dt.date, d.date_to_int),
        (d.TIME_NAME, dt.time, d.time_to_int),
    ):
        if name == logical:
            return _through(schema, generic, kind, to_int)
    return _generic(schema, generic)


def _through(schema: Schema, generic: Generic, kind: type, convert: Callable[[Any], Any]) -> Plan:
    def plan(value: Any) -> Any:
        if value.__class__ is kind:
            return convert(value)
        return generic(schema, value)

    return plan


def to_json_plan(schema: Schema, generic: Generic, numeric_decimals: bool = False) -> Plan:
    """Connect value → JSON node for `schema` (see the module doc)."""
    if schema.default is not None:
        return _generic(schema, generic)
    if schema.name in _LOGICAL:
        return _logical_to_json_plan(schema, generic, numeric_decimals)
    kind = _PASS_TYPES.get(schema.type)
    if kind is not None:
        return _passing(schema, generic, kind)
    if schema.type is not d.Type.STRUCT:
        return _generic(schema, generic)
    fields = [
        (f.name, f.index, to_json_plan(f.schema, generic, numeric_decimals)) for f in schema.fields
    ]

    def struct_plan(value: Any) -> Any:
        if value.__class__ is not Struct or value.schema is not schema:
            return generic(schema, value)
        values = value._values
        return {name: plan(values[index]) for name, index, plan in fields}

    return struct_plan


def to_connect_plan(schema: Schema, generic: Generic) -> Plan:
    """JSON node → Connect value for `schema` (see the module doc)."""
    if schema.name in _LOGICAL or schema.default is not None:
        return _generic(schema, generic)
    if schema.type is d.Type.FLOAT32:
        return _generic(schema, generic)
    kind = _PASS_TYPES.get(schema.type)
    if kind is not None:
        return _passing(schema, generic, kind)
    if schema.type is not d.Type.STRUCT:
        return _generic(schema, generic)
    fields = [(f.name, to_connect_plan(f.schema, generic)) for f in schema.fields]
    new = Struct.__new__

    def struct_plan(node: Any) -> Any:
        if node.__class__ is not dict:
            return generic(schema, node)
        out = new(Struct)
        out.schema = schema
        get = node.get
        out._values = [plan(get(name)) for name, plan in fields]
        return out

    return struct_plan


# ---------------------------------------------------------------- schema and node helpers


def schemaless_type(value: Any) -> d.Type:
    if isinstance(value, bool):
        return d.Type.BOOLEAN
    if isinstance(value, int):
        return d.Type.INT64
    if isinstance(value, float):
        return d.Type.FLOAT64
    if isinstance(value, str):
        return d.Type.STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return d.Type.BYTES
    if isinstance(value, (list, tuple)):
        return d.Type.ARRAY
    if isinstance(value, dict):
        return d.Type.MAP
    if isinstance(value, Struct):
        return d.Type.STRUCT
    raise DataException(
        f"Java class {type(value).__name__} does not have corresponding schema type."
    )


def text_of(node: Any) -> str:
    if isinstance(node, str):
        return node
    from riverlog.connect.json_format import dumps

    return dumps(node)


def expect_int(node: Any, what: str) -> int:
    if isinstance(node, bool) or not isinstance(node, int):
        raise DataException(f"Invalid type for {what}, underlying representation should be integer")
    return node


def has_float(schema: Schema | None) -> bool:
    if schema is None:
        return False
    if schema.type in (d.Type.FLOAT32, d.Type.FLOAT64):
        return True
    return any(has_float(s) for s in (schema.key_schema, schema.value_schema)) or any(
        has_float(f.schema) for f in schema.fields
    )


def has_decimal(schema: Schema | None) -> bool:
    if schema is None:
        return False
    if schema.name == d.DECIMAL_NAME:
        return True
    return any(has_decimal(s) for s in (schema.key_schema, schema.value_schema)) or any(
        has_decimal(f.schema) for f in schema.fields
    )


def plain(node: Any) -> Any:
    """Schemaless JSON as Python values: decimals read from JSON numbers become floats."""
    if isinstance(node, decimal.Decimal):
        return float(node)
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    return node
