"""ksqlDB's built-in scalar functions (string, numeric, date/time, JSON, collections, nulls)."""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from riverlog.sql import javatime
from riverlog.sql import types as T
from riverlog.sql.errors import SqlTypeError
from riverlog.sql.functions import (
    ReturnRule,
    ScalarFunction,
    fixed,
    numeric_rule,
    register,
    same_as,
    value_text,
)
from riverlog.sql.jsonio import dumps


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

# ---- date and time -----------------------------------------------------------------------
D = "DATE / TIME"
fn(
    "TIMESTAMPTOSTRING",
    lambda ms, p, tz="UTC": javatime.format_ms(ms, p, tz),
    fixed(T.STRING, (2, 3)),
    D,
    "Formats epoch milliseconds with a Java pattern.",
)
fn(
    "STRINGTOTIMESTAMP",
    lambda s, p, tz="UTC": javatime.parse_ms(s, p, tz),
    fixed(T.BIGINT, (2, 3)),
    D,
    "Parses a string into epoch milliseconds.",
)
fn(
    "FORMAT_TIMESTAMP",
    lambda ms, p, tz="UTC": javatime.format_ms(ms, p, tz),
    fixed(T.STRING, (2, 3)),
    D,
    "Formats a TIMESTAMP with a Java pattern.",
)
fn(
    "PARSE_TIMESTAMP",
    lambda s, p, tz="UTC": javatime.parse_ms(s, p, tz),
    fixed(T.TIMESTAMP, (2, 3)),
    D,
    "Parses a string into a TIMESTAMP.",
)
fn("FROM_UNIXTIME", lambda ms: int(ms), fixed(T.TIMESTAMP, 1), D, "Epoch ms to a TIMESTAMP.")
fn(
    "UNIX_TIMESTAMP",
    lambda *a: int(a[0]) if a else int(time.time() * 1000),
    fixed(T.BIGINT, (0, 1)),
    D,
    "Epoch ms now, or of a TIMESTAMP.",
)
fn(
    "UNIX_DATE",
    lambda *a: int(a[0]) if a else int(time.time() // 86400),
    fixed(T.INTEGER, (0, 1)),
    D,
    "Days since epoch now, or of a DATE.",
)
fn("FROM_DAYS", lambda d: int(d), fixed(T.DATE, 1), D, "Days since epoch to a DATE.")
fn(
    "DATETOSTRING",
    lambda d, p: javatime.format_ms(d * 86_400_000, p),
    fixed(T.STRING, 2),
    D,
    "Formats days since epoch.",
)
fn(
    "STRINGTODATE",
    lambda s, p: javatime.parse_ms(s, p) // 86_400_000,
    fixed(T.INTEGER, 2),
    D,
    "Parses a date into days since epoch.",
)


def _convert_tz(ms: int, fr: str, to: str) -> int:
    from datetime import UTC, datetime

    naive = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)
    src = naive.replace(tzinfo=javatime.zone(fr))
    shifted = src.astimezone(javatime.zone(to)).replace(tzinfo=UTC)
    return int(shifted.timestamp() * 1000)


fn("CONVERT_TZ", _convert_tz, fixed(T.TIMESTAMP, 3), D, "Shifts a TIMESTAMP between zones.")


# ---- JSON --------------------------------------------------------------------------------
J = "JSON"


def _json_path(text: str, path: str) -> str | None:
    try:
        node = json.loads(text)
    except ValueError:
        return None
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]|\['([^']+)'\]", path.lstrip("$")):
        name, idx, quoted = part
        key = name or quoted
        if key:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        else:
            if not isinstance(node, list) or int(idx) >= len(node):
                return None
            node = node[int(idx)]
    if node is None:
        return None
    return node if isinstance(node, str) else dumps(node)


fn("EXTRACTJSONFIELD", _json_path, fixed(T.STRING, 2), J, "A field of a JSON string by JSONPath.")


def _is_json(s: str) -> bool:
    try:
        json.loads(s)
        return True
    except ValueError:
        return False


fn("IS_JSON_STRING", _is_json, fixed(T.BOOLEAN, 1), J, "Whether a string is valid JSON.")


def _json_len(s: str) -> int | None:
    try:
        v = json.loads(s)
    except ValueError:
        return None
    return len(v) if isinstance(v, list) else None


def _json_keys(s: str) -> list[str] | None:
    try:
        v = json.loads(s)
    except ValueError:
        return None
    return list(v) if isinstance(v, dict) else None


fn("JSON_ARRAY_LENGTH", _json_len, fixed(T.INTEGER, 1), J, "The length of a JSON array.")
fn("JSON_KEYS", _json_keys, fixed(T.array(T.STRING), 1), J, "The keys of a JSON object.")
fn(
    "JSON_CONCAT",
    lambda *a: _json_concat(a),
    fixed(T.STRING),
    J,
    "Merges JSON objects or concatenates arrays.",
)


def _json_concat(a: tuple[str, ...]) -> str | None:
    try:
        values = [json.loads(x) for x in a]
    except ValueError:
        return None
    if all(isinstance(v, dict) for v in values):
        out: dict[str, Any] = {}
        for v in values:
            out.update(v)
        return dumps(out)
    items: list[Any] = []
    for v in values:
        items.extend(v if isinstance(v, list) else [v])
    return dumps(items)


def _to_json(types: list[T.SqlType]) -> Callable[..., Any]:
    t = types[0]

    def conv(v: Any, st: T.SqlType) -> Any:
        if v is None:
            return None
        if st.base in ("TIMESTAMP", "DATE", "TIME"):
            return value_text(v, st)
        if st.base == "ARRAY":
            return [conv(x, st.items[0]) for x in v]
        if st.base == "MAP":
            return {str(k): conv(x, st.items[1]) for k, x in v.items()}
        if st.base == "STRUCT":
            return {n: conv(v.get(n), ft) for n, ft in st.fields}
        return v

    return lambda v: dumps(conv(v, t))


fn(
    "TO_JSON_STRING",
    dumps,
    fixed(T.STRING, 1),
    J,
    "A value as JSON text.",
    nulls=False,
    by_types=_to_json,
)

# ---- collections -------------------------------------------------------------------------
C = "ARRAY"


def _item(args: list[T.SqlType]) -> T.SqlType:
    if not args or args[0].base != "ARRAY":
        raise SqlTypeError("expected an ARRAY")
    return args[0].items[0]


def _sortable(a: list[Any]) -> list[Any]:
    return [x for x in a if x is not None]


fn("ARRAY_LENGTH", len, fixed(T.INTEGER, 1), C, "The number of elements.")
fn("CARDINALITY", len, fixed(T.INTEGER, 1), C, "The number of elements.")
fn(
    "ARRAY_CONTAINS",
    lambda a, v: v in a,
    fixed(T.BOOLEAN, 2),
    C,
    "Whether the array holds v.",
    nulls=False,
)
fn(
    "ARRAY_DISTINCT",
    lambda a: list(dict.fromkeys(a)),
    same_as(0),
    C,
    "Distinct elements, in order.",
)
fn("ARRAY_MAX", lambda a: max(_sortable(a), default=None), _item, C, "The greatest element.")
fn("ARRAY_MIN", lambda a: min(_sortable(a), default=None), _item, C, "The least element.")
fn(
    "ARRAY_SORT",
    lambda a, d="ASC": (
        sorted(_sortable(a), reverse=d.upper() == "DESC") + [None] * (len(a) - len(_sortable(a)))
    ),
    same_as(0),
    C,
    "Sorts an array (NULLs last).",
)
fn(
    "ARRAY_JOIN",
    lambda a, d=",": d.join("null" if x is None else str(x) for x in a),
    fixed(T.STRING, (1, 2)),
    C,
    "Joins elements into a string.",
)
fn(
    "ARRAY_REMOVE",
    lambda a, v: [x for x in a if x != v],
    same_as(0),
    C,
    "Removes every v.",
    nulls=False,
)
fn("ARRAY_UNION", lambda a, b: list(dict.fromkeys(a + b)), same_as(0), C, "Union, distinct.")
fn(
    "ARRAY_INTERSECT",
    lambda a, b: [x for x in dict.fromkeys(a) if x in b],
    same_as(0),
    C,
    "Intersection, distinct.",
)
fn(
    "ARRAY_EXCEPT",
    lambda a, b: [x for x in dict.fromkeys(a) if x not in b],
    same_as(0),
    C,
    "Elements of a not in b, distinct.",
)
fn("ARRAY_CONCAT", lambda a, b: a + b, same_as(0), C, "Concatenates two arrays.")
fn(
    "SLICE",
    lambda a, f, t: a[max(f, 1) - 1 : t],
    same_as(0),
    C,
    "Elements from..to (1-based, inclusive).",
)
fn(
    "ELT",
    lambda n, *a: a[n - 1] if 1 <= n <= len(a) else None,
    fixed(T.STRING),
    S,
    "The n-th string argument.",
)
fn(
    "FIELD",
    lambda s, *a: next((i + 1 for i, x in enumerate(a) if x == s), 0),
    fixed(T.INTEGER),
    S,
    "The 1-based position of s among the arguments, 0 if absent.",
    nulls=False,
)


def _series(start: int, end: int, step: int = 1) -> list[int]:
    if step == 0:
        raise ValueError("GENERATE_SERIES step cannot be zero")
    return list(range(start, end + (1 if step > 0 else -1), step))


fn("GENERATE_SERIES", _series, lambda a: T.array(a[0]), C, "Integers from start to end.")


def _map_keys_rule(args: list[T.SqlType]) -> T.SqlType:
    if not args or args[0].base != "MAP":
        raise SqlTypeError("expected a MAP")
    return T.array(args[0].items[0])


def _map_values_rule(args: list[T.SqlType]) -> T.SqlType:
    if not args or args[0].base != "MAP":
        raise SqlTypeError("expected a MAP")
    return T.array(args[0].items[1])


fn("MAP_KEYS", lambda m: list(m), _map_keys_rule, "MAP", "The keys of a map.")
fn("MAP_VALUES", lambda m: list(m.values()), _map_values_rule, "MAP", "The values of a map.")
fn(
    "AS_MAP",
    lambda k, v: dict(zip(k, v, strict=False)),
    lambda a: T.map_of(
        a[0].items[0] if a[0].items else T.STRING, a[1].items[0] if a[1].items else T.NULL
    ),
    "MAP",
    "A map from a key array and a value array.",
)


def _entries_rule(args: list[T.SqlType]) -> T.SqlType:
    vt = args[0].items[1] if args and args[0].base == "MAP" else T.NULL
    return T.array(T.SqlType("STRUCT", fields=(("K", T.STRING), ("V", vt))))


fn(
    "ENTRIES",
    lambda m, s: [{"K": k, "V": v} for k, v in (sorted(m.items()) if s else m.items())],
    _entries_rule,
    "MAP",
    "A map's entries as an array of STRUCT<K, V>.",
)
fn(
    "MAP_UNION",
    lambda a, b: {**a, **b},
    same_as(0),
    "MAP",
    "Union of two maps (the second wins).",
)

# ---- conversions -------------------------------------------------------------------------
fn(
    "TO_BYTES",
    lambda s, enc: _to_bytes(s, enc),
    fixed(T.BYTES, 2),
    "BYTES",
    "A string to BYTES (hex, utf8, ascii, base64).",
)
fn(
    "FROM_BYTES",
    lambda b, enc: _from_bytes(b, enc),
    fixed(T.STRING, 2),
    "BYTES",
    "BYTES to a string (hex, utf8, ascii, base64).",
)


def _to_bytes(s: str, enc: str) -> bytes | None:
    e = enc.lower()
    if e == "hex":
        return bytes.fromhex(s)
    if e == "base64":
        return base64.b64decode(s)
    return s.encode("ascii" if e == "ascii" else "utf-8")


def _from_bytes(b: bytes, enc: str) -> str | None:
    e = enc.lower()
    if e == "hex":
        return b.hex().upper()
    if e == "base64":
        return base64.b64encode(b).decode()
    return b.decode("ascii" if e == "ascii" else "utf-8")
