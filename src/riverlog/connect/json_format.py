"""Write JSON trees the way Kafka's JsonConverter (Jackson) writes them, byte for byte.

The tree is plain Python: None, bool, int, float (a Java double), `Float32` (a Java float), str, bytes
(written as Jackson's binary node: standard base64 with padding), `decimal.Decimal` (a BigDecimal number),
list and dict (insertion order kept). Compact: no spaces. Differences from `json.dumps` that matter for
byte identity: doubles follow Java's `Double.toString` (`1.0E20`, `1.0E-4`), floats `Float.toString`,
non-ASCII text is written raw as UTF-8, and control characters use Jackson's escapes (upper-case hex).
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import struct
from collections.abc import Callable
from typing import Any


class Float32(float):
    """A float that Java holds as a 32-bit float (Connect FLOAT32)."""


_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape(text: str) -> str:
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _shortest_float32(value: float) -> str:
    """The shortest decimal digits that read back as the same 32-bit float."""
    target = struct.pack(">f", value)
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        if struct.pack(">f", float(text)) == target:
            return text
    return repr(value)


def java_double(value: float, *, float32: bool = False) -> str:
    """Java's `Double.toString` (or `Float.toString`) of `value`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = _shortest_float32(value) if float32 else repr(value)
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    # Normalise to digits + decimal exponent: value = 0.d1d2d3... * 10**exp10
    d = decimal.Decimal(text)
    tup = d.as_tuple()
    digits = "".join(map(str, tup.digits)).rstrip("0") or "0"
    exp10 = len(tup.digits) + int(tup.exponent)  # position of the decimal point
    magnitude = abs(float(text))
    if 1e-3 <= magnitude < 1e7:
        if exp10 <= 0:
            body = "0." + "0" * (-exp10) + digits
        elif exp10 >= len(digits):
            body = digits + "0" * (exp10 - len(digits)) + ".0"
        else:
            body = digits[:exp10] + "." + digits[exp10:]
        return sign + body
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exp10 - 1}"


def dumps(node: Any) -> str:
    """The compact JSON text Jackson writes for `node`."""
    parts: list[str] = []
    _write(node, parts)
    return "".join(parts)


def dumps_bytes(node: Any) -> bytes:
    return dumps(node).encode("utf-8")


def _write(node: Any, out: list[str]) -> None:
    if node is None:
        out.append("null")
    elif node is True:
        out.append("true")
    elif node is False:
        out.append("false")
    elif isinstance(node, Float32):
        out.append(java_double(node, float32=True))
    elif isinstance(node, float):
        out.append(java_double(node))
    elif isinstance(node, int):
        out.append(str(node))
    elif isinstance(node, str):
        out.append(_escape(node))
    elif isinstance(node, (bytes, bytearray, memoryview)):
        out.append('"' + base64.b64encode(bytes(node)).decode("ascii") + '"')
    elif isinstance(node, decimal.Decimal):
        out.append(str(node))
    elif isinstance(node, dict):
        out.append("{")
        first = True
        for k, v in node.items():
            if not first:
                out.append(",")
            first = False
            out.append(_escape(str(k)))
            out.append(":")
            _write(v, out)
        out.append("}")
    elif isinstance(node, (list, tuple)):
        out.append("[")
        for i, v in enumerate(node):
            if i:
                out.append(",")
            _write(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(node).__name__} as JSON")


def _make_fast_dumps() -> Callable[[Any], str]:
    """Compact JSON text (non-ASCII kept, NaN refused) through the C encoder built once:
    `JSONEncoder.encode` builds a new one on every call, which is half the cost for the small
    objects records are (bench/RESULTS.md, connect follow-up). No cycle check: Connect values are
    trees."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    quote = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or quote is None:  # pragma: no cover - a Python without the C accelerator
        return encoder.encode
    iterencode = make(None, encoder.default, quote, None, ":", ",", False, False, False)
    join = "".join

    def fast(value: Any) -> str:
        return join(iterencode(value, 0))

    return fast


fast_dumps = _make_fast_dumps()
decode_json = json.JSONDecoder().decode
decode_json_exact = json.JSONDecoder(parse_float=decimal.Decimal).decode  # floats as Decimal
