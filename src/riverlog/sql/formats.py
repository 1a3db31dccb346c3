"""Key and value formats: SQL rows ↔ record bytes, as ksqlDB writes them.

A row is a tuple in column order. Keys: a tuple of the key columns' values (None when the source
has no key columns). Formats:
- KAFKA: one column, Kafka's serializers (INT 4 bytes, BIGINT 8 bytes big-endian, DOUBLE IEEE 754,
  STRING UTF-8, BYTES raw) — byte-compatible with Java producers.
- JSON: an object of column name → value; a single column unwrapped when `WRAP_SINGLE_VALUE=false`
  and, for keys, always unwrapped (ksqlDB's single-key convention). Field names match
  case-insensitively on read.
- DELIMITED: CSV text with `VALUE_DELIMITER` (default `,`; `TAB`, `SPACE` by name).
- NONE: no key columns; nothing written.

A record that cannot be deserialized yields `BAD_RECORD` and a processing-log entry; the query
drops it and carries on (ksqlDB's log-and-continue).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from riverlog.sql import types as T
from riverlog.sql.errors import SqlStatementError
from riverlog.sql.functions import java_double
from riverlog.sql.jsonio import dumps
from riverlog.streams.serdes import Serde

log = logging.getLogger("riverlog.sql.processing")

BAD_RECORD = object()  # a record the format could not read

KEY_FORMATS = (
    "KAFKA", "JSON", "DELIMITED", "NONE", "AVRO", "JSON_SR", "PROTOBUF", "PROTOBUF_NOSR",
)  # fmt: skip
VALUE_FORMATS = ("KAFKA", "JSON", "DELIMITED", "AVRO", "JSON_SR", "PROTOBUF", "PROTOBUF_NOSR")


@dataclass(frozen=True)
class Column:
    name: str
    type: T.SqlType
    namespace: str = "VALUE"  # KEY | PRIMARY_KEY | VALUE | HEADERS


ProcessingLogger = Callable[[str, str], None]  # (message, record text) → None


def _default_logger(message: str, record: str) -> None:
    log.warning("%s: %s", message, record)


class ProcessingLog:
    """The entries of a query's processing log (ksqlDB's KSQL_PROCESSING_LOG rows)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.sinks: list[Callable[[dict[str, Any]], None]] = []

    def deserialization_error(self, message: str, record: bytes | None, topic: str) -> None:
        entry = {
            "TYPE": 0,
            "DESERIALIZATIONERROR": {
                "target": "value",
                "errorMessage": message,
                "RECORDB64": None if record is None else _b64(record),
                "topic": topic,
            },
        }
        self._add(entry)

    def record_processing_error(self, message: str, row: object) -> None:
        self._add(
            {"TYPE": 1, "RECORDPROCESSINGERROR": {"errorMessage": message, "record": str(row)}}
        )

    def _add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        if len(self.entries) > 10_000:
            del self.entries[:5_000]
        log.warning("processing log: %s", entry)
        for sink in self.sinks:
            sink(entry)


def _b64(b: bytes) -> str:
    import base64

    return base64.b64encode(b).decode()


# ---- KAFKA -------------------------------------------------------------------------------

_KAFKA_STRUCTS = {
    "INTEGER": struct.Struct(">i"),
    "BIGINT": struct.Struct(">q"),
    "DOUBLE": struct.Struct(">d"),
}


def _kafka_write(v: Any, t: T.SqlType) -> bytes | None:
    if v is None:
        return None
    if t.base in _KAFKA_STRUCTS:
        return _KAFKA_STRUCTS[t.base].pack(v)
    if t.base == "STRING":
        return str(v).encode()
    if t.base == "BYTES":
        return bytes(v)
    raise ValueError(f"The 'KAFKA' format does not support type '{t}'")


def _utf8(v: Any) -> bytes:
    return v.encode() if type(v) is str else str(v).encode()


def _kafka_read(b: bytes, t: T.SqlType) -> Any:
    if t.base in _KAFKA_STRUCTS:
        s = _KAFKA_STRUCTS[t.base]
        if len(b) != s.size:
            raise ValueError(
                f"Size of data received by {t.base.title()}Deserializer is not {s.size}"
            )
        return s.unpack(b)[0]
    if t.base == "STRING":
        return b.decode()
    return bytes(b)


def check_kafka_columns(cols: Sequence[Column], what: str) -> None:
    if len(cols) > 1:
        raise SqlStatementError(
            f"The 'KAFKA' format only supports a single field. Got: {[c.name for c in cols]}"
        )
    for c in cols:
        if c.type.base not in ("INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES"):
            raise SqlStatementError(f"The 'KAFKA' format does not support type '{c.type.base}'")
    del what


# ---- DELIMITED ---------------------------------------------------------------------------


def delimiter_of(props: dict[str, object]) -> str:
    d = str(props.get("VALUE_DELIMITER", ",") or ",")
    named = {"TAB": "\t", "SPACE": " "}
    if d.upper() in named:
        return named[d.upper()]
    if len(d) != 1:
        raise SqlStatementError(
            f"Invalid delimiter value: '{d}'. Delimiter must be a single character or TAB or SPACE"
        )
    return d


def _text(v: Any, t: T.SqlType) -> str:
    if v is None:
        return ""
    if t.base == "DOUBLE":
        return java_double(float(v))
    if t.base == "DECIMAL":
        return format(v, "f")
    if t.base == "BOOLEAN":
        return "true" if v else "false"
    if t.base == "BYTES":
        return _b64(v)
    return str(v)


# ---- the serdes --------------------------------------------------------------------------


class RowSerde(Serde[Any]):
    """Key or value columns of one format ↔ bytes."""

    def __init__(
        self,
        fmt: str,
        columns: Sequence[Column],
        is_key: bool,
        props: dict[str, object] | None = None,
        processing_log: ProcessingLog | None = None,
    ) -> None:
        self.fmt = fmt.upper()
        self.columns = list(columns)
        self.is_key = is_key
        props = props or {}
        self.unwrap = len(self.columns) == 1 and (
            is_key or str(props.get("WRAP_SINGLE_VALUE", "true")).lower() == "false"
        )
        self.delimiter = delimiter_of(props) if self.fmt == "DELIMITED" else ","
        self.plog = processing_log or ProcessingLog()
        if self.fmt == "KAFKA":
            check_kafka_columns(self.columns, "key" if is_key else "value")
        # JSON fast paths: no DECIMAL/BYTES anywhere means the C json module reads and writes
        # the values as ksqlDB does; each column gets a reader that skips coercion when the
        # decoded value already has the column's Python type.
        self.exact = not any(_needs_exact(c.type) for c in self.columns)
        self.names = [c.name for c in self.columns]
        self.has_double = any(c.type.base == "DOUBLE" for c in self.columns)
        self.readers = [_reader(c.type) for c in self.columns]
        self.pairs = list(zip(self.names, self.readers, strict=True))
        self.kafka_struct = (
            _KAFKA_STRUCTS.get(self.columns[0].type.base)
            if self.fmt == "KAFKA" and len(self.columns) == 1
            else None
        )
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self.fast_write: Callable[[Any], bytes] | None = None
        if self.kafka_struct is not None:
            self.fast_write = self.kafka_struct.pack
        elif (
            self.fmt == "KAFKA" and len(self.columns) == 1 and self.columns[0].type.base == "STRING"
        ):
            self.fast_write = _utf8
        self.codec: Any = None
        if self.fmt in ("AVRO", "JSON_SR") and self.columns:
            from riverlog.sql.registry_formats import RegistryRowCodec

            self.codec = RegistryRowCodec(self.fmt, self.columns, is_key, self.unwrap)
        elif self.fmt in ("PROTOBUF", "PROTOBUF_NOSR") and self.columns:
            from riverlog.sql.protobuf_format import ProtobufRowCodec, nullable_representation

            rep = nullable_representation(props, is_key)
            self.codec = ProtobufRowCodec(self.fmt, self.columns, is_key, rep)
        if self.fmt == "NONE" and self.columns:
            raise SqlStatementError(
                "The 'NONE' format can only be used when no columns are defined. "
                f"Got: {[c.name for c in self.columns]}"
            )

    # -- write -----------------------------------------------------------------------------
    def serialize(self, topic: str, data: Any) -> bytes | None:
        fast = self.fast_write
        if fast is not None:  # one KAFKA column: its serializer, nothing else
            if data is None or (v := data[0]) is None:
                return None
            return fast(v)
        if data is None or self.fmt == "NONE" or not self.columns:
            return None
        values = tuple(data)
        if self.codec is not None:
            return self.codec.write(topic, values)  # type: ignore[no-any-return]
        if self.fmt == "KAFKA":
            return _kafka_write(values[0], self.columns[0].type)
        if self.fmt == "JSON":
            if self.exact:
                if self.unwrap:
                    return self._dumps(_plain_out(values[0])).encode()
                if not self.has_double:  # no NaN/Infinity to spell out: values as they are
                    return self._dumps(dict(zip(self.names, values, strict=True))).encode()
                return self._dumps(
                    dict(zip(self.names, map(_plain_out, values), strict=True))
                ).encode()
            if self.unwrap:
                return dumps(_json_out(values[0], self.columns[0].type)).encode()
            return dumps(
                {c.name: _json_out(v, c.type) for c, v in zip(self.columns, values, strict=True)}
            ).encode()
        if self.fmt == "DELIMITED":
            buf = io.StringIO()
            w = csv.writer(
                buf, delimiter=self.delimiter, lineterminator="", quoting=csv.QUOTE_MINIMAL
            )
            w.writerow([_text(v, c.type) for c, v in zip(self.columns, values, strict=True)])
            return buf.getvalue().encode()
        raise SqlStatementError(f"Unsupported format: {self.fmt}")

    # -- read ------------------------------------------------------------------------------
    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if self.fmt == "NONE" or not self.columns:
            return None
        if data is None:
            return None
        try:
            return self.read(data, topic)
        except Exception as e:
            if self.codec is None and not isinstance(
                e, (ValueError, TypeError, UnicodeDecodeError, T.CoercionError, KeyError)
            ):
                raise
            what = "key" if self.is_key else "value"
            self.plog.deserialization_error(
                f"Failed to deserialize {what} from topic: {topic}. {e}", data, topic
            )
            return BAD_RECORD

    def read(self, data: bytes, topic: str = "") -> tuple[Any, ...]:
        if self.codec is not None:
            return self.codec.read(topic, data)  # type: ignore[no-any-return]
        if self.kafka_struct is not None:
            if len(data) != self.kafka_struct.size:
                return (_kafka_read(data, self.columns[0].type),)  # raises naming the size
            return self.kafka_struct.unpack(data)
        if self.fmt == "KAFKA":
            return (_kafka_read(data, self.columns[0].type),)
        if self.fmt == "JSON":
            node = _decode(data.decode()) if self.exact else json.loads(data, parse_float=Decimal)
            if self.exact and type(node) is dict and not self.unwrap:
                get = node.get
                return tuple(
                    [
                        read(
                            v
                            if (v := get(name)) is not None or name in node
                            else _field(node, name)
                        )
                        for name, read in self.pairs
                    ]
                )
            if self.unwrap:
                c = self.columns[0]
                # a key object holding the single column is accepted too
                if isinstance(node, dict) and c.type.base != "STRUCT" and c.type.base != "MAP":
                    node = _field(node, c.name)
                return (T.coerce(_json_in(node, c.type), c.type),)
            if not isinstance(node, dict):
                if len(self.columns) == 1:
                    c = self.columns[0]
                    return (T.coerce(_json_in(node, c.type), c.type),)
                raise ValueError(
                    f"Can't convert type. sourceType: {type(node).__name__}, requiredType: STRUCT"
                )
            return tuple(
                T.coerce(_json_in(_field(node, c.name), c.type), c.type) for c in self.columns
            )
        if self.fmt == "DELIMITED":
            rows = list(csv.reader(io.StringIO(data.decode()), delimiter=self.delimiter))
            fields = rows[0] if rows else [""]
            if len(fields) != len(self.columns):
                raise ValueError(
                    f"Column count mismatch on deserialization. topic: , columns: "
                    f"{len(self.columns)}, values: {len(fields)}"
                )
            return tuple(
                None if f == "" and c.type.base != "STRING" else _from_text(f, c.type)
                for c, f in zip(self.columns, fields, strict=True)
            )
        raise ValueError(f"Unsupported format: {self.fmt}")


_decode = json.JSONDecoder().decode


def _needs_exact(t: T.SqlType) -> bool:
    if t.base in ("DECIMAL", "BYTES"):
        return True
    return any(_needs_exact(i) for i in t.items) or any(_needs_exact(f) for _, f in t.fields)


_PY_TYPES: dict[str, type] = {"STRING": str, "BOOLEAN": bool, "DOUBLE": float}


def _reader(t: T.SqlType) -> Callable[[Any], Any]:
    """A column's JSON reader: the value as is when it already has the right type, else coerced."""
    py = _PY_TYPES.get(t.base)
    if t.base in ("INTEGER", "BIGINT"):
        lo, hi = (-(2**31), 2**31 - 1) if t.base == "INTEGER" else (-(2**63), 2**63 - 1)

        def read_int(v: Any) -> Any:
            if type(v) is int and lo <= v <= hi:
                return v
            return T.coerce(_json_in(v, t), t)

        return read_int
    if py is not None:

        def read_simple(v: Any) -> Any:
            if v is None or type(v) is py:
                return v
            return T.coerce(_json_in(v, t), t)

        return read_simple
    return lambda v: T.coerce(_json_in(v, t), t)


def _plain_out(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    return v


def _field(node: dict[str, Any], name: str) -> Any:
    if name in node:
        return node[name]
    upper = name.upper()
    for k, v in node.items():
        if k.upper() == upper:
            return v
    return None


def _json_in(v: Any, t: T.SqlType) -> Any:
    """JSON numbers parsed as Decimal become floats except for DECIMAL columns."""
    if isinstance(v, Decimal) and t.base != "DECIMAL":
        return float(v) if t.base != "STRING" else v
    if isinstance(v, list) and t.base == "ARRAY":
        return [_json_in(x, t.items[0]) for x in v]
    if isinstance(v, dict) and t.base == "MAP":
        return {k: _json_in(x, t.items[1]) for k, x in v.items()}
    if isinstance(v, dict) and t.base == "STRUCT":
        return {k: _json_in(x, t.field(k.upper()) or t.field(k) or T.STRING) for k, x in v.items()}
    return v


def _json_out(v: Any, t: T.SqlType) -> Any:
    if v is None:
        return None
    if t.base == "STRUCT":
        return {n: _json_out(v.get(n), ft) for n, ft in t.fields}
    if t.base == "ARRAY":
        return [_json_out(x, t.items[0]) for x in v]
    if t.base == "MAP":
        return {str(k): _json_out(x, t.items[1]) for k, x in v.items()}
    return v


def _from_text(f: str, t: T.SqlType) -> Any:
    if t.base == "STRING":
        return f
    if t.base in ("INTEGER", "BIGINT", "TIMESTAMP", "DATE", "TIME"):
        return T.coerce(int(f), t)
    if t.base == "DOUBLE":
        return float(f)
    if t.base == "DECIMAL":
        return T.fit_decimal(Decimal(f), t)
    if t.base == "BOOLEAN":
        return T.coerce(f, t)
    if t.base == "BYTES":
        import base64

        return base64.b64decode(f)
    raise ValueError(f"The 'DELIMITED' format does not support type '{t}'")


def check_format(
    fmt: str, columns: Sequence[Column], is_key: bool, props: dict[str, object]
) -> None:
    """Fail at statement time when a format cannot hold the columns."""
    fmt = fmt.upper()
    allowed = KEY_FORMATS if is_key else VALUE_FORMATS
    if fmt not in allowed:
        raise SqlStatementError(f"Unknown format: {fmt}")
    if fmt in ("PROTOBUF", "PROTOBUF_NOSR"):
        from riverlog.sql.protobuf_format import check_protobuf_columns, nullable_representation

        wrap = {str(k).upper(): v for k, v in props.items()}.get("WRAP_SINGLE_VALUE", True)
        if str(wrap).lower() == "false" and not is_key:
            raise SqlStatementError(
                f"Format '{fmt}' does not support 'WRAP_SINGLE_VALUE' set to 'false'."
            )
        if fmt == "PROTOBUF":
            from riverlog.sql.registry_formats import registry_url

            registry_url()  # fails naming the missing ksql.schema.registry.url
        check_protobuf_columns(columns)
        nullable_representation(props, is_key)  # fails naming a bad value
        return
    if fmt in ("AVRO", "JSON_SR"):
        from riverlog.sql.registry_formats import registry_url

        registry_url()  # fails naming the missing ksql.schema.registry.url
        return
    RowSerde(fmt, columns, is_key, props)
    if fmt == "DELIMITED":
        for c in columns:
            if c.type.base in ("ARRAY", "MAP", "STRUCT"):
                raise SqlStatementError(
                    f"The 'DELIMITED' format does not support type '{c.type.base}', column: `{c.name}`"
                )
