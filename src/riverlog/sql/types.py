"""SQL types (ksqlDB's `SqlType`s), their Python values, coercion and names.

Values: BOOLEAN → bool, INTEGER/BIGINT → int (wrapped to 32/64 bits as Java does), DOUBLE → float,
DECIMAL(p, s) → Decimal, STRING → str, BYTES → bytes, TIMESTAMP → epoch ms int, DATE → days int,
TIME → ms of day int, ARRAY → list, MAP → dict, STRUCT → dict in field order. NULL is None.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from riverlog.sql import ast
from riverlog.sql.errors import SqlStatementError, SqlTypeError


@dataclass(frozen=True)
class SqlType:
    base: str  # BOOLEAN INTEGER BIGINT DOUBLE DECIMAL STRING BYTES TIMESTAMP DATE TIME ARRAY MAP STRUCT NULL
    precision: int = 0
    scale: int = 0
    items: tuple[SqlType, ...] = ()  # ARRAY: (item,), MAP: (key, value)
    fields: tuple[tuple[str, SqlType], ...] = ()

    def __str__(self) -> str:
        if self.base == "DECIMAL":
            return f"DECIMAL({self.precision}, {self.scale})"
        if self.base == "ARRAY":
            return f"ARRAY<{self.items[0]}>"
        if self.base == "MAP":
            return f"MAP<{self.items[0]}, {self.items[1]}>"
        if self.base == "STRUCT":
            return "STRUCT<" + ", ".join(f"`{n}` {t}" for n, t in self.fields) + ">"
        return self.base

    @property
    def numeric(self) -> bool:
        return self.base in ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL")

    def field(self, name: str) -> SqlType | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None


BOOLEAN = SqlType("BOOLEAN")
INTEGER = SqlType("INTEGER")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
BYTES = SqlType("BYTES")
TIMESTAMP = SqlType("TIMESTAMP")
DATE = SqlType("DATE")
TIME = SqlType("TIME")
NULL = SqlType("NULL")


def array(item: SqlType) -> SqlType:
    return SqlType("ARRAY", items=(item,))


def map_of(key: SqlType, value: SqlType) -> SqlType:
    return SqlType("MAP", items=(key, value))


def decimal(precision: int, scale: int) -> SqlType:
    return SqlType("DECIMAL", precision, scale)


_BASE_NAMES = {
    "BOOLEAN": BOOLEAN,
    "INT": INTEGER,
    "INTEGER": INTEGER,
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "VARCHAR": STRING,
    "STRING": STRING,
    "BYTES": BYTES,
    "TIMESTAMP": TIMESTAMP,
    "DATE": DATE,
    "TIME": TIME,
}


def resolve(ref: ast.TypeRef, custom: dict[str, SqlType] | None = None) -> SqlType:
    """A written type to a SqlType; custom types (CREATE TYPE) by name."""
    if ref.name == "ARRAY":
        return array(resolve(ref.items[0], custom))
    if ref.name == "MAP":
        return map_of(resolve(ref.items[0], custom), resolve(ref.items[1], custom))
    if ref.name == "STRUCT":
        return SqlType("STRUCT", fields=tuple((n, resolve(t, custom)) for n, t in ref.fields))
    if ref.name == "DECIMAL":
        if len(ref.params) != 2:
            raise SqlStatementError("DECIMAL requires a precision and a scale: DECIMAL(p, s)")
        p, s = ref.params
        if p < 1 or s < 0 or s > p:
            raise SqlStatementError(f"Invalid DECIMAL({p}, {s}): need 0 <= scale <= precision")
        return decimal(p, s)
    if ref.name in _BASE_NAMES:
        return _BASE_NAMES[ref.name]
    if custom and ref.name in custom:
        return custom[ref.name]
    raise SqlStatementError(f"Unknown type: {ref.name}")


# ---- arithmetic rules --------------------------------------------------------------------

_RANK = {"INTEGER": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}


def widest(a: SqlType, b: SqlType) -> SqlType:
    """The common numeric type of two operands (ksqlDB's widening: INT < BIGINT < DECIMAL < DOUBLE)."""
    if a.base == "NULL":
        return b
    if b.base == "NULL":
        return a
    if not (a.numeric and b.numeric):
        raise SqlTypeError(f"Unsupported arithmetic types. {a} {b}")
    if a.base == "DECIMAL" and b.base == "DECIMAL":
        scale = max(a.scale, b.scale)
        return decimal(max(a.precision - a.scale, b.precision - b.scale) + scale + 1, scale)
    return a if _RANK[a.base] >= _RANK[b.base] else b


def wrap_int(v: int) -> int:
    return ((v + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


def wrap_long(v: int) -> int:
    return ((v + 0x8000_0000_0000_0000) & 0xFFFF_FFFF_FFFF_FFFF) - 0x8000_0000_0000_0000


def comparable(a: SqlType, b: SqlType) -> bool:
    if a.base == "NULL" or b.base == "NULL":
        return True
    if a.numeric and b.numeric:
        return True
    if {a.base, b.base} <= {"STRING", "TIMESTAMP", "DATE", "TIME"} and "STRING" in (a.base, b.base):
        return True
    return a.base == b.base


# ---- coercion of external values ---------------------------------------------------------


class CoercionError(ValueError):
    pass


def coerce(value: Any, t: SqlType, path: str = "") -> Any:
    """A decoded JSON-ish value into `t`'s Python representation (ksqlDB's JSON coercions)."""
    if value is None:
        return None
    b = t.base
    try:
        if b == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        elif b in ("INTEGER", "BIGINT", "TIMESTAMP", "DATE", "TIME"):
            if isinstance(value, bool):
                raise CoercionError
            if isinstance(value, int):
                v = value
            elif isinstance(value, float) and value.is_integer():
                v = int(value)
            elif isinstance(value, str):
                v = int(value.strip())
            else:
                raise CoercionError
            lo, hi = (-(2**31), 2**31 - 1) if b == "INTEGER" else (-(2**63), 2**63 - 1)
            if not lo <= v <= hi:
                raise CoercionError
            return v
        elif b == "DOUBLE":
            if isinstance(value, bool):
                raise CoercionError
            if isinstance(value, (int, float, Decimal)):
                return float(value)
            if isinstance(value, str):
                return float(value)
        elif b == "DECIMAL":
            if isinstance(value, bool):
                raise CoercionError
            d = Decimal(str(value)) if not isinstance(value, Decimal) else value
            return fit_decimal(d, t)
        elif b == "STRING":
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (int, float, Decimal)):
                return str(value)
            if isinstance(value, (list, dict)):
                from riverlog.sql.jsonio import dumps

                return dumps(value)
        elif b == "BYTES":
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, str):
                return base64.b64decode(value)
        elif b == "ARRAY":
            if isinstance(value, list):
                return [coerce(v, t.items[0], path) for v in value]
        elif b == "MAP":
            if isinstance(value, dict):
                return {coerce(k, t.items[0]): coerce(v, t.items[1]) for k, v in value.items()}
        elif b == "STRUCT" and isinstance(value, dict):
            upper = {str(k).upper(): v for k, v in value.items()}
            out = {}
            for name, ft in t.fields:
                item = value[name] if name in value else upper.get(name.upper())
                out[name] = coerce(item, ft)
            return out
    except (ValueError, InvalidOperation, TypeError, OverflowError) as e:
        raise CoercionError(f"Can't convert {value!r} to {t}") from e
    raise CoercionError(
        f"Can't convert type. sourceType: {type(value).__name__}, requiredType: {t}"
    )


def fit_decimal(d: Decimal, t: SqlType) -> Decimal:
    q = d.quantize(Decimal(1).scaleb(-t.scale))
    if len(q.as_tuple().digits) > t.precision and q != 0:
        raise CoercionError(f"Numeric field overflow: {d} does not fit {t}")
    return q


def type_of_literal(lit: ast.Literal) -> SqlType:
    if lit.kind == "null":
        return NULL
    if lit.kind == "boolean":
        return BOOLEAN
    if lit.kind == "integer":
        v = int(lit.value)  # type: ignore[call-overload]
        return INTEGER if -(2**31) <= v < 2**31 else BIGINT
    if lit.kind == "decimal":
        d: Decimal = lit.value  # type: ignore[assignment]
        digits = len(d.as_tuple().digits)
        scale = max(-int(d.as_tuple().exponent), 0)
        return decimal(max(digits, scale, 1), scale)
    if lit.kind == "double":
        return DOUBLE
    return STRING
