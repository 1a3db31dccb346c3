"""JSON text for SQL values: DECIMALs written as numbers with their scale (as ksqlDB's JSON
serializer writes them), doubles as Java prints them in JSON (`1.0`), bytes as base64."""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import Any


def dumps(value: Any) -> str:
    """Serialize a SQL value (dict/list/str/int/float/Decimal/bool/bytes/None) to compact JSON."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(json.dumps(v, ensure_ascii=False))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            out.append(json.dumps(str(v)))
        else:
            out.append(repr(v))
    elif isinstance(v, Decimal):
        out.append(format(v, "f"))
    elif isinstance(v, (bytes, bytearray)):
        out.append('"' + base64.b64encode(bytes(v)).decode() + '"')
    elif isinstance(v, dict):
        out.append("{")
        first = True
        for k, item in v.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(str(k), ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        out.append(json.dumps(str(v)))


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping non-integral numbers exact (as Decimal) so DECIMAL columns lose nothing."""
    return json.loads(text, parse_float=Decimal)


def plain(v: Any) -> Any:
    """Decimals in a loaded value back to floats (for DOUBLE columns and test comparisons)."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v
