"""ksqlDB's built-in scalar functions, part two: date/time, JSON, collections, conversions."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any

from riverlog.sql import javatime
from riverlog.sql import types as T
from riverlog.sql.errors import SqlTypeError
from riverlog.sql.functions import fixed, same_as, value_text
from riverlog.sql.jsonio import dumps
from riverlog.sql.udfs import S, fn

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
