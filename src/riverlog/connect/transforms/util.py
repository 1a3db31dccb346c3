"""Helpers shared by the SMTs: Java date patterns, struct rebuilding, field-name spec parsing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from riverlog.connect.data import Schema, SchemaBuilder, Struct
from riverlog.connect.errors import DataException

_TOKEN = re.compile(r"'[^']*'|''|([A-Za-z])\1*")


def java_format(moment: dt.datetime, pattern: str) -> str:
    """Format `moment` with a Java `SimpleDateFormat` pattern (UTC, the letters Connect users use)."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(pattern):
        out.append(pattern[pos : m.start()])
        pos = m.end()
        tok = m.group(0)
        if tok == "''":
            out.append("'")
        elif tok.startswith("'"):
            out.append(tok[1:-1])
        else:
            out.append(_field(moment, tok[0], len(tok)))
    out.append(pattern[pos:])
    return "".join(out)


def _field(t: dt.datetime, letter: str, n: int) -> str:
    if letter == "y":
        return f"{t.year % 100:02d}" if n == 2 else f"{t.year:0{n}d}"
    if letter == "M":
        if n >= 4:
            return t.strftime("%B")
        if n == 3:
            return t.strftime("%b")
        return f"{t.month:0{n}d}"
    simple = {
        "d": t.day,
        "H": t.hour,
        "m": t.minute,
        "s": t.second,
        "D": t.timetuple().tm_yday,
        "k": t.hour or 24,
        "h": (t.hour % 12) or 12,
        "K": t.hour % 12,
    }
    if letter in simple:
        return f"{simple[letter]:0{n}d}"
    if letter == "S":
        return f"{t.microsecond // 1000:03d}"[:n] if n <= 3 else f"{t.microsecond // 1000:0{n}d}"
    if letter == "E":
        return t.strftime("%A") if n >= 4 else t.strftime("%a")
    if letter == "a":
        return "AM" if t.hour < 12 else "PM"
    if letter in "Zz":
        return "+0000" if letter == "Z" else "UTC"
    if letter == "X":
        return "Z"
    raise DataException(f"Unsupported date pattern letter: {letter}")


def java_parse(text: str, pattern: str) -> dt.datetime:
    """Parse `text` with a Java pattern (numeric fields, literals, UTC)."""
    regex = []
    names: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(pattern):
        regex.append(re.escape(pattern[pos : m.start()]))
        pos = m.end()
        tok = m.group(0)
        if tok == "''":
            regex.append("'")
        elif tok.startswith("'"):
            regex.append(re.escape(tok[1:-1]))
        elif tok[0] in "yMdHmsS":
            names.append(tok[0])
            regex.append(
                rf"(?P<{tok[0]}{len(names)}>\d{{1,{max(len(tok), 2) if tok[0] != 'y' else 4}}})"
            )
        elif tok[0] in "XZz":
            regex.append(r"(?:Z|[+-]\d{2}:?\d{2}|UTC)")
        else:
            raise DataException(f"Unsupported date pattern letter: {tok[0]}")
    regex.append(re.escape(pattern[pos:]))
    match = re.fullmatch("".join(regex), text)
    if match is None:
        raise DataException(
            f"Could not parse timestamp: value ({text}) does not match pattern ({pattern})"
        )
    parts = {"y": 1970, "M": 1, "d": 1, "H": 0, "m": 0, "s": 0, "S": 0}
    for i, name in enumerate(names, 1):
        parts[name] = int(match.group(f"{name}{i}"))
    return dt.datetime(
        parts["y"],
        parts["M"],
        parts["d"],
        parts["H"],
        parts["m"],
        parts["s"],
        parts["S"] * 1000,
        tzinfo=dt.UTC,
    )


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataException(
            f"Only Map objects supported in absence of schema for [{purpose}], found: {type(value).__name__ if value is not None else 'null'}"
        )
    return value


def require_struct(value: Any, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(
            f"Only Struct objects supported for [{purpose}], found: {type(value).__name__ if value is not None else 'null'}"
        )
    return value


def copy_schema_basics(source: Schema, builder: SchemaBuilder) -> SchemaBuilder:
    """Kafka's `SchemaUtil.copySchemaBasics`: name, version, doc, parameters (not optional/default)."""
    builder.name(source.name).version(source.version).doc(source.doc)
    if source.parameters is not None:
        builder.parameters(source.params)
    return builder


def struct_value(struct: Struct, name: str, replace_null: bool) -> Any:
    return struct.get(name) if replace_null else struct.get_without_default(name)
