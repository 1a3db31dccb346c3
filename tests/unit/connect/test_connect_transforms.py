"""SMTs configured exactly as a Kafka Connect connector config names them (transforms.<alias>.*)."""

from __future__ import annotations

import datetime as dt

import pytest

from riverlog.connect import data as d
from riverlog.connect.api import Header, SinkRecord, SourceRecord
from riverlog.connect.connector_config import build_chain, validate
from riverlog.connect.data import SchemaBuilder, Struct
from riverlog.connect.errors import ConfigException, DataException
from riverlog.connect.plugins import PLUGINS

USER = (
    SchemaBuilder.struct()
    .name("User")
    .field("id", d.INT32_SCHEMA)
    .field("name", d.STRING_SCHEMA)
    .field("age", d.OPTIONAL_STRING_SCHEMA)
    .build()
)


def user(i: int = 1) -> Struct:
    return Struct(USER).put("id", i).put("name", f"n{i}").put("age", "42")


def record(
    value: object = None, schema: d.Schema | None = USER, topic: str = "users", **kw: object
) -> SourceRecord:
    return SourceRecord(
        topic, 0, None, None, schema, user() if value is None else value, 1_600_000_000_000, **kw
    )  # type: ignore[arg-type]


def chain(**props: str) -> object:
    return build_chain(props, PLUGINS)


def test_cast_fields_and_whole_value() -> None:
    out = build_chain(
        {
            "transforms": "c",
            "transforms.c.type": "org.apache.kafka.connect.transforms.Cast$Value",
            "transforms.c.spec": "age:int32,id:string",
        },
        PLUGINS,
    ).apply(record())
    assert out is not None
    assert out.value.get("age") == 42 and out.value.get("id") == "1"
    assert out.value_schema.field("age").schema.type is d.Type.INT32
    whole = build_chain(
        {"transforms": "c", "transforms.c.type": "Cast$Value", "transforms.c.spec": "int64"},
        PLUGINS,
    ).apply(record("17", d.STRING_SCHEMA))
    assert whole is not None and whole.value == 17
    with pytest.raises(ConfigException):
        build_chain(
            {
                "transforms": "c",
                "transforms.c.type": "Cast$Value",
                "transforms.c.spec": "id:complex",
            },
            PLUGINS,
        )


def test_extract_hoist_flatten_schemaless_and_schemaful() -> None:
    out = build_chain(
        {
            "transforms": "e",
            "transforms.e.type": "ExtractField$Value",
            "transforms.e.field": "name",
        },
        PLUGINS,
    ).apply(record())
    assert out is not None and out.value == "n1" and out.value_schema == d.STRING_SCHEMA
    out = build_chain(
        {"transforms": "h", "transforms.h.type": "HoistField$Value", "transforms.h.field": "line"},
        PLUGINS,
    ).apply(record("x", None))
    assert out is not None and out.value == {"line": "x"}
    nested = {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    out = build_chain(
        {"transforms": "f", "transforms.f.type": "Flatten$Value", "transforms.f.delimiter": "_"},
        PLUGINS,
    ).apply(record(nested, None))
    assert out is not None and out.value == {"a_b": 1, "a_c_d": 2, "e": 3}
    inner = SchemaBuilder.struct().field("x", d.INT32_SCHEMA).build()
    outer = SchemaBuilder.struct().field("in", inner).field("y", d.STRING_SCHEMA).build()
    s = Struct(outer).put("in", Struct(inner).put("x", 5)).put("y", "z")
    out = build_chain({"transforms": "f", "transforms.f.type": "Flatten$Value"}, PLUGINS).apply(
        record(s, outer)
    )
    assert out is not None and out.value.as_dict() == {"in.x": 5, "y": "z"}


def test_insert_mask_replace_set_schema_value_to_key() -> None:
    props = {
        "transforms": "ins,mask,rep,meta,v2k",
        "transforms.ins.type": "InsertField$Value",
        "transforms.ins.topic.field": "topic!",
        "transforms.ins.static.field": "src",
        "transforms.ins.static.value": "lab",
        "transforms.mask.type": "MaskField$Value",
        "transforms.mask.fields": "age",
        "transforms.rep.type": "ReplaceField$Value",
        "transforms.rep.renames": "name:full_name",
        "transforms.rep.exclude": "src",
        "transforms.meta.type": "SetSchemaMetadata$Value",
        "transforms.meta.schema.name": "com.example.User",
        "transforms.meta.schema.version": "3",
        "transforms.v2k.type": "ValueToKey",
        "transforms.v2k.fields": "id",
    }
    out = build_chain(props, PLUGINS).apply(record())
    assert out is not None
    assert out.value.as_dict() == {"id": 1, "full_name": "n1", "age": "", "topic": "users"}
    assert out.value_schema.name == "com.example.User" and out.value_schema.version == 3
    assert out.key.as_dict() == {"id": 1}


def test_routers_headers_and_timestamp_converter() -> None:
    props = {
        "transforms": "route,ts,hdr,drop",
        "transforms.route.type": "RegexRouter",
        "transforms.route.regex": "(.*)s",
        "transforms.route.replacement": "$1-topic",
        "transforms.ts.type": "TimestampRouter",
        "transforms.ts.topic.format": "${topic}-${timestamp}",
        "transforms.ts.timestamp.format": "yyyy.MM.dd",
        "transforms.hdr.type": "InsertHeader",
        "transforms.hdr.header": "source",
        "transforms.hdr.value.literal": "lab",
        "transforms.drop.type": "DropHeaders",
        "transforms.drop.headers": "junk",
    }
    out = build_chain(props, PLUGINS).apply(record(headers=(Header("junk", None, "x"),)))
    assert out is not None
    assert out.topic == "user-topic-2020.09.13"
    assert [h.key for h in out.headers] == ["source"]
    conv = build_chain(
        {
            "transforms": "t",
            "transforms.t.type": "TimestampConverter$Value",
            "transforms.t.field": "at",
            "transforms.t.target.type": "string",
            "transforms.t.format": "yyyy-MM-dd HH:mm:ss",
        },
        PLUGINS,
    )
    out = conv.apply(record({"at": 1_600_000_000_000}, None))
    assert out is not None and out.value == {"at": "2020-09-13 12:26:40"}
    back = build_chain(
        {
            "transforms": "t",
            "transforms.t.type": "TimestampConverter$Value",
            "transforms.t.target.type": "Timestamp",
            "transforms.t.format": "yyyy-MM-dd HH:mm:ss",
        },
        PLUGINS,
    )
    out = back.apply(record("2020-09-13 12:26:40", d.STRING_SCHEMA))
    assert out is not None and out.value == dt.datetime(2020, 9, 13, 12, 26, 40, tzinfo=dt.UTC)


def test_header_from_move() -> None:
    out = build_chain(
        {
            "transforms": "h",
            "transforms.h.type": "HeaderFrom$Value",
            "transforms.h.fields": "name",
            "transforms.h.headers": "who",
            "transforms.h.operation": "move",
        },
        PLUGINS,
    ).apply(record())
    assert out is not None
    assert [f.name for f in out.value_schema.fields] == ["id", "age"]
    assert out.headers[0] == Header("who", d.STRING_SCHEMA, "n1")


def test_filter_with_predicates_and_negate() -> None:
    props = {
        "transforms": "drop",
        "transforms.drop.type": "Filter",
        "transforms.drop.predicate": "isUsers",
        "transforms.drop.negate": "true",
        "predicates": "isUsers",
        "predicates.isUsers.type": "TopicNameMatches",
        "predicates.isUsers.pattern": "user.*",
    }
    c = build_chain(props, PLUGINS)
    assert c.apply(record(topic="users")) is not None  # matches, negated: kept
    assert c.apply(record(topic="orders")) is None  # no match, negated: filtered
    tomb = build_chain(
        {
            "transforms": "f",
            "transforms.f.type": "Filter",
            "transforms.f.predicate": "t",
            "predicates": "t",
            "predicates.t.type": "RecordIsTombstone",
        },
        PLUGINS,
    )
    sink = SinkRecord("x", 0, None, None, None, None)
    assert tomb.apply(sink) is None
    has = build_chain(
        {
            "transforms": "f",
            "transforms.f.type": "Filter",
            "transforms.f.predicate": "h",
            "predicates": "h",
            "predicates.h.type": "HasHeaderKey",
            "predicates.h.name": "skip",
        },
        PLUGINS,
    )
    assert has.apply(record(headers=(Header("skip", None, "1"),))) is None
    assert has.apply(record()) is not None


def test_bad_transform_configs_are_named_in_validate() -> None:
    infos = validate(
        {
            "name": "n",
            "connector.class": "FileStreamSource",
            "topic": "t",
            "transforms": "a,b",
            "transforms.a.type": "NoSuchSMT",
            "transforms.b.type": "Cast$Value",
            "transforms.b.predicate": "missing",
        },
        PLUGINS,
    )
    bad = {c["value"]["name"] for c in infos["configs"] if c["value"]["errors"]}
    assert {"transforms.a.type", "transforms.b.predicate"} <= bad


def test_schema_required_errors() -> None:
    with pytest.raises(DataException):
        build_chain(
            {
                "transforms": "m",
                "transforms.m.type": "SetSchemaMetadata$Value",
                "transforms.m.schema.name": "x",
            },
            PLUGINS,
        ).apply(record({"a": 1}, None))
