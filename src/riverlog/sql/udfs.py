"""ksqlDB's built-in scalar functions (string, numeric, date/time, JSON, collections, nulls)."""

from __future__ import annotations

import base64
import math
import random
import re
import uuid
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from riverlog.sql import types as T
from riverlog.sql.functions import (
    ReturnRule,
    ScalarFunction,
    fixed,
    numeric_rule,
    register,
    same_as,
)


def fn(
    name: str,
    impl: Callable[..., Any],
    returns: ReturnRule,
    category: str,
    description: str,
    nulls: bool = True,
    by_types: Callable[[list[T.SqlType]], Callable[..., Any]] | None = None,
) -> None:
    register(
        ScalarFunction(
            name,
            impl,
            returns,
            description,
            null_propagates=nulls,
            category=category,
            by_types=by_types,
        )
    )


# ---- strings -----------------------------------------------------------------------------
S = "STRING"

fn("UCASE", str.upper, fixed(T.STRING, 1), S, "Converts a string to upper case.")
fn("LCASE", str.lower, fixed(T.STRING, 1), S, "Converts a string to lower case.")
fn("LEN", len, fixed(T.INTEGER, 1), S, "Returns the length of a string.")
fn("TRIM", str.strip, fixed(T.STRING, 1), S, "Removes leading and trailing whitespace.")
fn("LTRIM", str.lstrip, fixed(T.STRING, 1), S, "Removes leading whitespace.")
fn("RTRIM", str.rstrip, fixed(T.STRING, 1), S, "Removes trailing whitespace.")
fn(
    "INITCAP",
    lambda s: " ".join(w[:1].upper() + w[1:].lower() for w in s.split(" ")),
    fixed(T.STRING, 1),
    S,
    "Capitalizes the first letter of each word.",
)
fn("REVERSE", lambda s: s[::-1], same_as(0), S, "Reverses a string or an array.")


def _substring(s: str, pos: int, length: int | None = None) -> str:
    # 1-based; a negative position counts from the end (ksqlDB's SUBSTRING)
    start = pos - 1 if pos > 0 else max(len(s) + pos, 0)
    if pos == 0:
        start = 0
    return s[start:] if length is None else s[start : start + max(length, 0)]


fn("SUBSTRING", _substring, fixed(T.STRING, (2, 3)), S, "Returns a substring (1-based).")
fn(
    "CONCAT",
    lambda *a: "".join(x for x in a if x is not None),
    same_as(0),
    S,
    "Concatenates strings (NULLs are skipped).",
    nulls=False,
)


def _concat_ws(sep: str | None, *a: Any) -> str | None:
    if sep is None:
        return None
    return sep.join(x for x in a if x is not None)


fn("CONCAT_WS", _concat_ws, same_as(0), S, "Concatenates with a separator.", nulls=False)
fn("REPLACE", lambda s, a, b: s.replace(a, b), fixed(T.STRING, 3), S, "Replaces substrings.")


def _split(s: str, d: str) -> list[str]:
    if d == "":
        return list(s)
    return s.split(d)


fn("SPLIT", _split, fixed(T.array(T.STRING), 2), S, "Splits a string into an array.")


def _instr(s: str, sub: str, pos: int = 1, occ: int = 1) -> int:
    idx = pos - 1 if pos > 0 else len(s) + pos
    for _ in range(occ):
        found = s.find(sub, idx) if pos > 0 else s.rfind(sub, 0, idx + 1)
        if found < 0:
            return 0
        idx = found + 1 if pos > 0 else found - 1
        result = found
    return result + 1


fn(
    "INSTR",
    _instr,
    fixed(T.INTEGER, (2, 4)),
    S,
    "The 1-based position of a substring, 0 if absent.",
)


def _pad(left: bool) -> Callable[[str, int, str], str | None]:
    def pad(s: str, n: int, p: str) -> str | None:
        if n < 0 or (p == "" and len(s) < n):
            return None
        if len(s) >= n:
            return s[:n]
        fill = (p * n)[: n - len(s)]
        return fill + s if left else s + fill

    return pad


fn("LPAD", _pad(True), fixed(T.STRING, 3), S, "Pads a string on the left.")
fn("RPAD", _pad(False), fixed(T.STRING, 3), S, "Pads a string on the right.")


def _regex_extract(pattern: str, s: str, group: int = 0) -> str | None:
    m = re.search(pattern, s)
    if m is None or group > (m.re.groups or 0):
        return None
    return m.group(group)


def _regex_extract_all(pattern: str, s: str, group: int = 0) -> list[str | None]:
    return [m.group(group) for m in re.finditer(pattern, s)]


fn("REGEXP_EXTRACT", _regex_extract, fixed(T.STRING, (2, 3)), S, "The first regex match.")
fn(
    "REGEXP_EXTRACT_ALL",
    _regex_extract_all,
    fixed(T.array(T.STRING), (2, 3)),
    S,
    "Every regex match.",
)
fn(
    "REGEXP_REPLACE",
    lambda s, p, r: re.sub(p, re.sub(r"\$(\d)", r"\\\1", r), s),
    fixed(T.STRING, 3),
    S,
    "Replaces regex matches.",
)
fn(
    "REGEXP_SPLIT_TO_ARRAY",
    lambda s, p: re.split(p, s),
    fixed(T.array(T.STRING), 2),
    S,
    "Splits by a regex.",
)
fn("CHR", lambda n: chr(n), fixed(T.STRING, 1), S, "The character with this code point.")


def _mask(repl: tuple[str, str, str, str]) -> Callable[..., str]:
    up, low, dig, other = repl

    def m(s: str, u: str = up, lo: str = low, d: str = dig, o: str = other) -> str:
        out = []
        for ch in s:
            if ch.isupper():
                out.append(u)
            elif ch.islower():
                out.append(lo)
            elif ch.isdigit():
                out.append(d)
            else:
                out.append(o)
        return "".join(out)

    return m


fn("MASK", _mask(("X", "x", "n", "-")), fixed(T.STRING, (1, 5)), S, "Masks every character.")
fn(
    "ENCODE",
    lambda s, fr, to: _encode(s, fr, to),
    fixed(T.STRING, 3),
    S,
    "Re-encodes a string between hex, utf8, ascii and base64.",
)


def _encode(s: str, fr: str, to: str) -> str | None:
    decoders: dict[str, Callable[[str], bytes]] = {
        "hex": bytes.fromhex,
        "utf8": lambda x: x.encode(),
        "ascii": lambda x: x.encode("ascii"),
        "base64": base64.b64decode,
    }
    encoders: dict[str, Callable[[bytes], str]] = {
        "hex": lambda b: b.hex(),
        "utf8": lambda b: b.decode(),
        "ascii": lambda b: b.decode("ascii"),
        "base64": lambda b: base64.b64encode(b).decode(),
    }
    try:
        return str(encoders[to.lower()](decoders[fr.lower()](s)))
    except (KeyError, ValueError):
        return None


fn("UUID", lambda: str(uuid.uuid4()), fixed(T.STRING, 0), S, "A random UUID.")

# ---- numbers -----------------------------------------------------------------------------
N = "MATHEMATICAL"


def _by_numeric(int_fn: Callable[..., Any], float_fn: Callable[..., Any]) -> Any:
    def pick(types: list[T.SqlType]) -> Callable[..., Any]:
        return int_fn if types and types[0].base in ("INTEGER", "BIGINT", "DECIMAL") else float_fn

    return pick


fn("ABS", abs, numeric_rule, N, "Absolute value.")


def _ceil_floor(up: bool) -> Callable[[list[T.SqlType]], Callable[..., Any]]:
    def pick(types: list[T.SqlType]) -> Callable[..., Any]:
        base = types[0].base if types else "DOUBLE"
        if base in ("INTEGER", "BIGINT"):
            return lambda v: v
        if base == "DECIMAL":
            return lambda v: v.to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
        return lambda v: float(math.ceil(v) if up else math.floor(v))

    return pick


def _decimal_scale0(args: list[T.SqlType]) -> T.SqlType:
    t = numeric_rule(args)
    return T.decimal(t.precision, 0) if t.base == "DECIMAL" else t


fn("CEIL", math.ceil, _decimal_scale0, N, "Rounds up.", by_types=_ceil_floor(True))
fn("FLOOR", math.floor, _decimal_scale0, N, "Rounds down.", by_types=_ceil_floor(False))


def _round_rule(args: list[T.SqlType]) -> T.SqlType:
    t = numeric_rule(args)
    if len(args) == 1:
        if t.base == "DOUBLE":
            return T.BIGINT
        if t.base == "DECIMAL":
            return T.decimal(t.precision, 0)
    return t


def _round_impl(types: list[T.SqlType]) -> Callable[..., Any]:
    base = types[0].base

    def r(v: Any, places: int = 0) -> Any:
        d = Decimal(str(v)) if not isinstance(v, Decimal) else v
        q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if base == "DOUBLE":
            return int(q) if len(types) == 1 else float(q)
        if base == "DECIMAL":
            return q if len(types) > 1 else q.quantize(Decimal(1))
        return int(q)

    return r


fn("ROUND", round, _round_rule, N, "Rounds half up (to a number of places).", by_types=_round_impl)
fn("TRUNC", math.trunc, numeric_rule, N, "Truncates toward zero.")
fn(
    "SQRT",
    lambda v: math.sqrt(v) if v >= 0 else float("nan"),
    fixed(T.DOUBLE, 1),
    N,
    "Square root.",
)
fn("CBRT", lambda v: math.copysign(abs(v) ** (1 / 3), v), fixed(T.DOUBLE, 1), N, "Cube root.")
fn("EXP", lambda v: math.exp(v), fixed(T.DOUBLE, 1), N, "e to the power.")
fn("LN", lambda v: math.log(v) if v > 0 else float("nan"), fixed(T.DOUBLE, 1), N, "Natural log.")
fn(
    "LOG",
    lambda *a: math.log(a[0]) if len(a) == 1 else math.log(a[1], a[0]),
    fixed(T.DOUBLE, (1, 2)),
    N,
    "Logarithm (natural, or in a base).",
)
fn("POWER", lambda a, b: float(a) ** float(b), fixed(T.DOUBLE, 2), N, "a to the power b.")
fn("SIGN", lambda v: (v > 0) - (v < 0), fixed(T.INTEGER, 1), N, "The sign: -1, 0 or 1.")
fn("RANDOM", random.random, fixed(T.DOUBLE, 0), N, "A random DOUBLE in [0, 1).")
fn("PI", lambda: math.pi, fixed(T.DOUBLE, 0), N, "Pi.")
for _name, _f in (
    ("SIN", math.sin),
    ("COS", math.cos),
    ("TAN", math.tan),
    ("ASIN", math.asin),
    ("ACOS", math.acos),
    ("ATAN", math.atan),
    ("SINH", math.sinh),
    ("COSH", math.cosh),
    ("TANH", math.tanh),
    ("RADIANS", math.radians),
    ("DEGREES", math.degrees),
):
    fn(_name, _f, fixed(T.DOUBLE, 1), N, f"{_name.lower()} of a number.")
fn("ATAN2", math.atan2, fixed(T.DOUBLE, 2), N, "atan2(y, x).")


def _widest_rule(args: list[T.SqlType]) -> T.SqlType:
    t = args[0]
    for a in args[1:]:
        t = T.widest(t, a) if (t.numeric and a.numeric) else t
    return t


fn(
    "GREATEST",
    lambda *a: max(x for x in a if x is not None) if any(x is not None for x in a) else None,
    _widest_rule,
    N,
    "The greatest argument, ignoring NULLs.",
    nulls=False,
)
fn(
    "LEAST",
    lambda *a: min(x for x in a if x is not None) if any(x is not None for x in a) else None,
    _widest_rule,
    N,
    "The least argument, ignoring NULLs.",
    nulls=False,
)


def _geo_distance(lat1: float, lon1: float, lat2: float, lon2: float, unit: str = "KM") -> float:
    r = 6371.0 if unit.upper() in ("KM", "KILOMETERS", "KILOMETRES") else 3959.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


fn(
    "GEO_DISTANCE",
    _geo_distance,
    fixed(T.DOUBLE, (4, 5)),
    N,
    "Great-circle distance (km or miles).",
)

# ---- nulls and conditionals --------------------------------------------------------------
fn(
    "COALESCE",
    lambda *a: next((x for x in a if x is not None), None),
    same_as(0),
    "CONDITIONAL",
    "The first non-NULL argument.",
    nulls=False,
)
fn(
    "IFNULL",
    lambda a, b: b if a is None else a,
    same_as(0),
    "CONDITIONAL",
    "b when a is NULL.",
    nulls=False,
)
fn(
    "NULLIF",
    lambda a, b: None if a == b else a,
    same_as(0),
    "CONDITIONAL",
    "NULL when a = b.",
    nulls=False,
)
fn(
    "AS_VALUE",
    lambda a: a,
    same_as(0),
    "OTHER",
    "A copy of a key column in the value (the key column keeps its place in the key).",
    nulls=False,
)
