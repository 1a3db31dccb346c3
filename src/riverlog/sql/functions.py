"""The scalar function registry, CAST, and the Java-compatible text forms of values.

A `ScalarFunction` has a name, a return-type rule over the argument types, an implementation
chosen for those types, and whether a NULL argument makes the result NULL without calling it
(most of ksqlDB's built-ins behave so). Built-ins live in `riverlog.sql.udfs`; plugins register
through the `riverlog.sql.functions` entry point group (a callable taking the registry).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from riverlog.sql import types as T
from riverlog.sql.errors import SqlTypeError

ReturnRule = Callable[[list[T.SqlType]], T.SqlType]


@dataclass
class ScalarFunction:
    name: str
    impl: Callable[..., Any]
    returns: ReturnRule
    description: str = ""
    null_propagates: bool = True
    variadic: bool = False
    category: str = "OTHER"
    by_types: Callable[[list[T.SqlType]], Callable[..., Any]] | None = field(default=None)
    signatures: tuple[str, ...] = ()

    def bind(self, arg_types: list[T.SqlType]) -> Callable[..., Any]:
        return self.by_types(arg_types) if self.by_types else self.impl


FUNCTIONS: dict[str, ScalarFunction] = {}
LAMBDA_FUNCTIONS = frozenset({"TRANSFORM", "FILTER", "REDUCE"})


def register(f: ScalarFunction) -> ScalarFunction:
    FUNCTIONS[f.name.upper()] = f
    return f


def fixed(t: T.SqlType, n: int | tuple[int, int] | None = None) -> ReturnRule:
    """A return rule: always `t`; checks the argument count when `n` is given."""

    def rule(args: list[T.SqlType]) -> T.SqlType:
        if n is not None:
            lo, hi = (n, n) if isinstance(n, int) else n
            if not lo <= len(args) <= hi:
                raise SqlTypeError(f"expected {lo}..{hi} arguments, got {len(args)}")
        return t

    return rule


def same_as(i: int) -> ReturnRule:
    def rule(args: list[T.SqlType]) -> T.SqlType:
        if len(args) <= i:
            raise SqlTypeError("too few arguments")
        return args[i]

    return rule


# ---- Java text forms ---------------------------------------------------------------------


def java_double(v: float) -> str:
    """`Double.toString`: 1.0, 0.001, 1.0E-4, 1.2345678E7, NaN, Infinity."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0.0" if math.copysign(1, v) < 0 else "0.0"
    a = abs(v)
    if 1e-3 <= a < 1e7:
        s = repr(v)
        if "e" in s:  # repr uses exponents only outside this range, but be safe
            s = format(v, "f")
        return s if "." in s else s + ".0"
    mantissa, exp = repr(v).split("e") if "e" in repr(v) else (repr(v), "0")
    m = float(mantissa)
    e = int(exp)
    # normalise so that 1 <= |m| < 10
    while abs(m) >= 10:
        m /= 10
        e += 1
    while abs(m) < 1:
        m *= 10
        e -= 1
    ms = repr(round(m, 15))
    if "." not in ms:
        ms += ".0"
    return f"{ms}E{e}"


def timestamp_text(ms: int) -> str:
    """ksqlDB's text form of a TIMESTAMP: ISO-8601 in UTC with milliseconds."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def value_text(v: Any, t: T.SqlType) -> str:
    """CAST(x AS STRING) of a value of type `t`."""
    if t.base == "BOOLEAN":
        return "true" if v else "false"
    if t.base == "DOUBLE":
        return java_double(float(v))
    if t.base == "DECIMAL":
        return format(v, "f")
    if t.base == "TIMESTAMP":
        return timestamp_text(v)
    if t.base == "DATE":
        from datetime import date, timedelta

        return (date(1970, 1, 1) + timedelta(days=v)).isoformat()
    if t.base == "TIME":
        s, ms = divmod(v, 1000)
        return f"{s // 3600:02d}:{(s // 60) % 60:02d}:{s % 60:02d}" + (f".{ms:03d}" if ms else "")
    if t.base == "ARRAY":
        return "[" + ", ".join("null" if x is None else value_text(x, t.items[0]) for x in v) + "]"
    if t.base == "MAP":
        return (
            "{"
            + ", ".join(
                f"{value_text(k, t.items[0])}={'null' if x is None else value_text(x, t.items[1])}"
                for k, x in v.items()
            )
            + "}"
        )
    if t.base == "STRUCT":
        return (
            "Struct{"
            + ",".join(f"{n}={value_text(v[n], ft)}" for n, ft in t.fields if v.get(n) is not None)
            + "}"
        )
    if t.base == "BYTES":
        import base64

        return base64.b64encode(v).decode()
    return str(v)


def parse_timestamp_text(s: str) -> int:
    """A TIMESTAMP from ISO-8601 text (date, date-time, optional offset), as ksqlDB accepts."""
    text = s.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# ---- CAST --------------------------------------------------------------------------------


def cast_value(v: Any, source: T.SqlType, target: T.SqlType) -> Any:
    """ksqlDB's CAST: NULL stays NULL; an impossible conversion gives NULL."""
    if v is None:
        return None
    b = target.base
    try:
        if b == "STRING":
            return v if source.base == "STRING" else value_text(v, source)
        if b in ("INTEGER", "BIGINT"):
            if isinstance(v, str):
                n = int(v.strip())
            elif isinstance(v, bool):
                return None
            elif isinstance(v, float):
                if math.isnan(v) or math.isinf(v):
                    return None
                n = int(v)  # toward zero, as Java's (int) cast
            else:
                n = int(v)
            return T.wrap_int(n) if b == "INTEGER" else T.wrap_long(n)
        if b == "DOUBLE":
            return float(v.strip()) if isinstance(v, str) else float(v)
        if b == "DECIMAL":
            d = Decimal(v.strip()) if isinstance(v, str) else Decimal(str(v))
            q = d.quantize(Decimal(1).scaleb(-target.scale), rounding=ROUND_HALF_UP)
            if len(q.as_tuple().digits) > target.precision and q != 0:
                return None
            return q
        if b == "BOOLEAN":
            if isinstance(v, str):
                low = v.strip().lower()
                if low in ("true", "t", "yes", "y"):
                    return True
                if low in ("false", "f", "no", "n"):
                    return False
                return None
            return bool(v)
        if b == "TIMESTAMP":
            if isinstance(v, str):
                return parse_timestamp_text(v)
            if source.base == "DATE":
                return int(v) * 86_400_000
            return int(v)
        if b == "DATE":
            if isinstance(v, str):
                from datetime import date

                return (date.fromisoformat(v.strip()[:10]) - date(1970, 1, 1)).days
            if source.base == "TIMESTAMP":
                return int(v) // 86_400_000
            return int(v)
        if b == "TIME":
            if isinstance(v, str):
                parts = v.strip().split(":")
                secs = float(parts[2]) if len(parts) > 2 else 0.0
                return (int(parts[0]) * 3600 + int(parts[1]) * 60) * 1000 + int(secs * 1000)
            if source.base == "TIMESTAMP":
                return int(v) % 86_400_000
            return int(v)
        if b == "BYTES":
            return v if isinstance(v, bytes) else None
        if b == "ARRAY" and isinstance(v, list):
            st = source.items[0] if source.items else T.NULL
            return [cast_value(x, st, target.items[0]) for x in v]
        if b == "MAP" and isinstance(v, dict):
            kt, vt = source.items if source.items else (T.NULL, T.NULL)
            return {
                cast_value(k, kt, target.items[0]): cast_value(x, vt, target.items[1])
                for k, x in v.items()
            }
        if b == "STRUCT" and isinstance(v, dict):
            return {
                n: cast_value(v.get(n), source.field(n) or T.NULL, ft) for n, ft in target.fields
            }
    except (ValueError, InvalidOperation, OverflowError, TypeError):
        return None
    return None


def numeric_rule(args: Sequence[T.SqlType]) -> T.SqlType:
    if not args:
        raise SqlTypeError("expected an argument")
    if not (args[0].numeric or args[0].base == "NULL"):
        raise SqlTypeError(f"expected a number, got {args[0]}")
    return args[0]


def _load_builtins() -> None:
    from riverlog.sql import udfs, udfs_more  # noqa: F401  (register the built-ins)


class PluginRegistry:
    """What a `riverlog.sql.functions` entry point receives: `scalar(...)` registers a UDF,
    `aggregate(...)` a UDAF (a factory of `riverlog.sql.aggregates.Udaf` from the argument types)."""

    def scalar(
        self,
        name: str,
        impl: Callable[..., Any],
        returns: str,
        description: str = "",
        null_propagates: bool = True,
    ) -> None:
        from riverlog.sql.parser import parse_type

        t = T.resolve(parse_type(returns))
        register(
            ScalarFunction(
                name.upper(), impl, fixed(t), description, null_propagates, category="PLUGIN"
            )
        )

    def aggregate(
        self, name: str, factory: Callable[[list[T.SqlType]], Any], description: str = ""
    ) -> None:
        from riverlog.sql.aggregates import AGGREGATES, AggregateFunction

        AGGREGATES[name.upper()] = AggregateFunction(
            name.upper(), description, lambda types, _lits, _star: factory(types)
        )


_plugins_loaded: list[str] | None = None


def load_plugins() -> list[str]:
    """Run every `riverlog.sql.functions` entry point once per process; returns their names."""
    global _plugins_loaded
    if _plugins_loaded is not None:
        return _plugins_loaded
    from importlib.metadata import entry_points

    loaded = []
    registry = PluginRegistry()
    for ep in entry_points(group="riverlog.sql.functions"):
        ep.load()(registry)
        loaded.append(ep.name)
    _plugins_loaded = loaded
    return loaded


_load_builtins()
