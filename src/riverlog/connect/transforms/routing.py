"""Record-level SMTs (Kafka's names and config keys): DropHeaders, Filter, HeaderFrom$Key/$Value,
InsertHeader, RegexRouter, TimestampRouter, TimestampConverter$Key/$Value; and the predicates
TopicNameMatches, HasHeaderKey, RecordIsTombstone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from riverlog.common.configdef import ConfigDef, Importance, Type, one_of
from riverlog.connect import data as d
from riverlog.connect.api import ConnectRecord, Header
from riverlog.connect.data import Schema, SchemaBuilder, Struct
from riverlog.connect.errors import ConfigException, DataException
from riverlog.connect.transforms.base import KeyOrValue, Predicate, Transformation
from riverlog.connect.transforms.util import (
    copy_schema_basics,
    java_format,
    java_parse,
    require_map,
    require_struct,
)

H, M = Importance.HIGH, Importance.MEDIUM


class DropHeaders(Transformation):
    config_def = ConfigDef().define(
        "headers", Type.LIST, None, None, H, "The name of the headers to be removed."
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        drop = set(self.config["headers"] or [])
        return record.replace(headers=tuple(h for h in record.headers if h.key not in drop))  # type: ignore[no-any-return]


class Filter(Transformation):
    """Drops every record it is applied to (use it with a predicate)."""

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        return None


class InsertHeader(Transformation):
    config_def = (
        ConfigDef()
        .define("header", Type.STRING, None, None, H, "The name of the header.")
        .define(
            "value.literal",
            Type.STRING,
            None,
            None,
            H,
            "The literal value that is to be set as the header value on all records.",
        )
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        return record.with_header(  # type: ignore[no-any-return]
            self.config["header"], d.STRING_SCHEMA, self.config["value.literal"]
        )  # type: ignore[no-any-return]


class HeaderFrom(KeyOrValue, Transformation):
    config_def = (
        ConfigDef()
        .define(
            "fields",
            Type.LIST,
            None,
            None,
            H,
            "Field names in the record whose values are to be copied or moved to headers.",
        )
        .define(
            "headers",
            Type.LIST,
            None,
            None,
            H,
            "Header names, in the same order as the field names listed in the fields configuration property.",
        )
        .define(
            "operation",
            Type.STRING,
            None,
            one_of("move", "copy"),
            H,
            "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value).",
        )
        .define(
            "replace.null.with.default",
            Type.BOOLEAN,
            True,
            None,
            M,
            "Whether to replace fields that have a default value and that are null to the default value.",
        )
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        if len(self.config["fields"] or []) != len(self.config["headers"] or []):
            raise ConfigException(
                "'fields' config must have the same number of elements as 'headers' config."
            )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        fields, names = self.config["fields"], self.config["headers"]
        move = self.config["operation"] == "move"
        schema, value = self.operating_schema(record), self.operating_value(record)
        headers = list(record.headers)
        if schema is None:
            src = require_map(value, "header " + self.config["operation"])
            for f, h in zip(fields, names, strict=True):
                headers.append(Header(h, None, src.get(f)))
            new_value = {k: v for k, v in src.items() if k not in fields} if move else src
            return self.new_record(record, None, new_value).replace(headers=tuple(headers))  # type: ignore[no-any-return]
        struct = require_struct(value, "header " + self.config["operation"])
        for f, h in zip(fields, names, strict=True):
            fs = schema.field(f)
            if fs is None:
                raise DataException(f"Field does not exist: {f}")
            headers.append(
                Header(
                    h,
                    fs.schema,
                    struct.get(f)
                    if self.config["replace.null.with.default"]
                    else struct.get_without_default(f),
                )
            )
        if not move:
            return record.replace(headers=tuple(headers))  # type: ignore[no-any-return]
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        for fld in schema.fields:
            if fld.name not in fields:
                b.field(fld.name, fld.schema)
        new_schema = b.build()
        out = Struct(new_schema)
        for fld in new_schema.fields:
            out.put(fld.name, struct.get_without_default(fld.name))
        return self.new_record(record, new_schema, out).replace(headers=tuple(headers))  # type: ignore[no-any-return]


class HeaderFromKey(HeaderFrom):
    IS_KEY = True


class HeaderFromValue(HeaderFrom):
    IS_KEY = False


class RegexRouter(Transformation):
    config_def = (
        ConfigDef()
        .define("regex", Type.STRING, None, None, H, "Regular expression to use for matching.")
        .define("replacement", Type.STRING, None, None, H, "Replacement string.")
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        try:
            self.pattern = re.compile(self.config["regex"])
        except (re.error, TypeError) as exc:
            raise ConfigException(f"Invalid value for regex: {exc}") from None
        # Java's $1 group references -> Python's \g<1>
        self.replacement = re.sub(r"\$(\d+)", r"\\g<\1>", self.config["replacement"] or "")

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        if self.pattern.fullmatch(record.topic):
            return record.replace(topic=self.pattern.sub(self.replacement, record.topic, count=1))  # type: ignore[no-any-return]
        return record


class TimestampRouter(Transformation):
    config_def = (
        ConfigDef()
        .define(
            "topic.format",
            Type.STRING,
            "${topic}-${timestamp}",
            None,
            H,
            "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively.",
        )
        .define(
            "timestamp.format",
            Type.STRING,
            "yyyyMMdd",
            None,
            H,
            "Format string for the timestamp that is compatible with java.text.SimpleDateFormat.",
        )
    )

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        if record.timestamp is None:
            raise DataException(f"Timestamp missing on record: {record}")
        stamp = java_format(d.timestamp_from_int(record.timestamp), self.config["timestamp.format"])
        topic = (
            self.config["topic.format"]
            .replace("${topic}", record.topic)
            .replace("${timestamp}", stamp)
        )
        return record.replace(topic=topic)  # type: ignore[no-any-return]


_TS_TARGETS = ("string", "unix", "Date", "Time", "Timestamp")
_UNIX_FACTOR = {"seconds": 1000, "milliseconds": 1, "microseconds": 0.001, "nanoseconds": 0.000001}


class TimestampConverter(KeyOrValue, Transformation):
    config_def = (
        ConfigDef()
        .define(
            "field",
            Type.STRING,
            "",
            None,
            H,
            "The field containing the timestamp, or empty if the entire value is a timestamp",
        )
        .define(
            "target.type",
            Type.STRING,
            None,
            one_of(*_TS_TARGETS),
            H,
            "The desired timestamp representation: string, unix, Date, Time, or Timestamp",
        )
        .define(
            "format",
            Type.STRING,
            "",
            None,
            M,
            "A SimpleDateFormat-compatible format for the timestamp.",
        )
        .define(
            "unix.precision",
            Type.STRING,
            "milliseconds",
            one_of(*_UNIX_FACTOR),
            Importance.LOW,
            "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds.",
        )
        .define(
            "replace.null.with.default",
            Type.BOOLEAN,
            True,
            None,
            M,
            "Whether to replace fields that have a default value and that are null to the default value.",
        )
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        if self.config["target.type"] == "string" and not self.config["format"]:
            raise ConfigException(
                "TimestampConverter requires format option to be specified when using string timestamps"
            )

    def _to_millis(self, value: Any, schema: Schema | None) -> int:
        name = schema.name if schema is not None else None
        if isinstance(value, dt.datetime):
            return d.timestamp_to_int(value)
        if isinstance(value, dt.date) and name == d.DATE_NAME:
            return d.date_to_int(value) * 86_400_000
        if isinstance(value, dt.time):
            return d.time_to_int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value * _UNIX_FACTOR[self.config["unix.precision"]])
        if isinstance(value, str):
            if not self.config["format"]:
                raise DataException(
                    "TimestampConverter requires format option to be specified when using string timestamps"
                )
            return d.timestamp_to_int(java_parse(value, self.config["format"]))
        raise DataException(
            f"TimestampConverter does not support {type(value).__name__} objects as timestamps"
        )

    def _from_millis(self, millis: int) -> tuple[Schema, Any]:
        target = self.config["target.type"]
        if target == "string":
            return d.OPTIONAL_STRING_SCHEMA, java_format(
                d.timestamp_from_int(millis), self.config["format"]
            )
        if target == "unix":
            return d.OPTIONAL_INT64_SCHEMA, int(
                millis / _UNIX_FACTOR[self.config["unix.precision"]]
            )
        if target == "Date":
            return d.date_schema(optional=True), d.timestamp_from_int(
                millis - millis % 86_400_000
            ).date()
        if target == "Time":
            return d.time_schema(optional=True), d.time_from_int(millis % 86_400_000)
        return d.timestamp_schema(optional=True), d.timestamp_from_int(millis)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        field = self.config["field"]
        schema, value = self.operating_schema(record), self.operating_value(record)
        if not field:
            if value is None:
                return self.new_record(
                    record, None if schema is None else self._from_millis(0)[0], None
                )
            new_schema, new_value = self._from_millis(self._to_millis(value, schema))
            return self.new_record(record, None if schema is None else new_schema, new_value)
        if schema is None:
            if value is None:
                return record
            src = dict(require_map(value, "converting timestamp formats"))
            if src.get(field) is not None:
                src[field] = self._from_millis(self._to_millis(src[field], None))[1]
            return self.new_record(record, None, src)
        f = schema.field(field)
        if f is None:
            raise DataException(f"Field does not exist: {field}")
        target_schema = self._from_millis(0)[0]
        b = copy_schema_basics(schema, SchemaBuilder.struct())
        for fld in schema.fields:
            b.field(fld.name, target_schema if fld.name == field else fld.schema)
        new_schema = b.build()
        if value is None:
            return self.new_record(record, new_schema, None)
        struct = require_struct(value, "converting timestamp formats")
        out = Struct(new_schema)
        for fld in schema.fields:
            v = (
                struct.get(fld.name)
                if self.config["replace.null.with.default"]
                else struct.get_without_default(fld.name)
            )
            if fld.name == field and v is not None:
                v = self._from_millis(self._to_millis(v, fld.schema))[1]
            out.put(fld.name, v)
        return self.new_record(record, new_schema, out)


class TimestampConverterKey(TimestampConverter):
    IS_KEY = True


class TimestampConverterValue(TimestampConverter):
    IS_KEY = False


# ---------------------------------------------------------------- predicates


class TopicNameMatches(Predicate):
    config_def = ConfigDef().define(
        "pattern",
        Type.STRING,
        None,
        None,
        M,
        "A Java regular expression for matching against the name of a record's topic.",
    )

    def configure(self, props: Any) -> None:
        super().configure(props)
        try:
            self.pattern = re.compile(self.config["pattern"] or "")
        except re.error as exc:
            raise ConfigException(f"Invalid value for pattern: {exc}") from None
        if not self.config["pattern"]:
            raise ConfigException(
                'Missing required configuration "pattern" which has no default value.'
            )

    def test(self, record: ConnectRecord) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey(Predicate):
    config_def = ConfigDef().define("name", Type.STRING, None, None, M, "The header name.")

    def test(self, record: ConnectRecord) -> bool:
        return any(h.key == self.config["name"] for h in record.headers)


class RecordIsTombstone(Predicate):
    def test(self, record: ConnectRecord) -> bool:
        return record.value is None
