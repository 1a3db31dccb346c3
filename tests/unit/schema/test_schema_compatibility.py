"""Compatibility rules, case by case, transcribed from the Avro specification's schema resolution rules,
Confluent's documented compatibility types (what each level allows), and Confluent's JSON Schema and
Protobuf difference rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riverlog.schema.avro import AvroSchema
from riverlog.schema.compatibility import CompatibilityLevel, check
from riverlog.schema.json_schema import JsonSchema
from riverlog.schema.protobuf import ProtobufSchema
from riverlog.schema.types import InvalidSchemaError


def avro(obj: Any) -> AvroSchema:
    return AvroSchema(json.dumps(obj))


def rec(*fields: dict[str, Any], name: str = "R") -> AvroSchema:
    return avro({"type": "record", "name": name, "fields": list(fields)})


def can_read(reader: AvroSchema, writer: AvroSchema) -> bool:
    return not reader.read_errors(writer)


# -- Avro: the specification's resolution rules ----------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ],
)
def test_avro_promotions(writer: str, reader: str) -> None:
    assert can_read(avro(reader), avro(writer))


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("long", "int"),
        ("double", "float"),
        ("float", "long"),
        ("string", "int"),
        ("boolean", "int"),
    ],
)
def test_avro_no_demotions(writer: str, reader: str) -> None:
    assert not can_read(avro(reader), avro(writer))


def test_avro_reader_field_needs_a_default_when_the_writer_lacks_it() -> None:
    writer = rec({"name": "a", "type": "int"})
    assert not can_read(rec({"name": "a", "type": "int"}, {"name": "b", "type": "int"}), writer)
    with_default = rec({"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0})
    assert can_read(with_default, writer)


def test_avro_writer_fields_the_reader_lacks_are_ignored() -> None:
    writer = rec({"name": "a", "type": "int"}, {"name": "b", "type": "string"})
    assert can_read(rec({"name": "a", "type": "int"}), writer)


def test_avro_record_names_must_match_unless_aliased() -> None:
    writer = rec({"name": "a", "type": "int"}, name="Old")
    assert not can_read(rec({"name": "a", "type": "int"}, name="New"), writer)
    aliased = avro(
        {
            "type": "record",
            "name": "New",
            "aliases": ["Old"],
            "fields": [{"name": "a", "type": "int"}],
        }
    )
    assert can_read(aliased, writer)


def test_avro_enum_symbols() -> None:
    small = avro({"type": "enum", "name": "E", "symbols": ["A"]})
    large = avro({"type": "enum", "name": "E", "symbols": ["A", "B"]})
    assert can_read(large, small)
    assert not can_read(small, large)  # a writer symbol the reader lacks
    defaulted = avro({"type": "enum", "name": "E", "symbols": ["A"], "default": "A"})
    assert can_read(defaulted, large)


def test_avro_fixed_size_must_match() -> None:
    four = avro({"type": "fixed", "name": "F", "size": 4})
    assert not can_read(four, avro({"type": "fixed", "name": "F", "size": 8}))
    assert can_read(four, avro({"type": "fixed", "name": "F", "size": 4}))


def test_avro_unions() -> None:
    assert can_read(avro(["null", "string"]), avro("string"))  # reader union has the branch
    assert not can_read(avro("string"), avro(["null", "string"]))  # writer branch null unmatched
    assert can_read(avro(["null", "long"]), avro(["null", "int"]))  # branch by promotion
    assert not can_read(avro(["null", "int"]), avro(["null", "int", "string"]))


def test_avro_arrays_and_maps_resolve_their_items() -> None:
    assert can_read(
        avro({"type": "array", "items": "long"}), avro({"type": "array", "items": "int"})
    )
    assert not can_read(
        avro({"type": "map", "values": "int"}), avro({"type": "map", "values": "string"})
    )


def test_avro_references_resolve_named_types() -> None:
    address = json.dumps({"type": "record", "name": "Address", "fields": []})
    person = json.dumps(
        {"type": "record", "name": "Person", "fields": [{"name": "a", "type": "Address"}]}
    )
    with pytest.raises(InvalidSchemaError):
        AvroSchema(person)
    assert AvroSchema(person, resolved={"Address": address}).record_name() == "Person"


def test_avro_canonical_ignores_layout_not_content() -> None:
    a = AvroSchema('{"type": "string"}')
    assert a.canonical() == AvroSchema('{ "type" :"string" }').canonical()
    one = rec({"name": "a", "type": "int", "default": 1})
    two = rec({"name": "a", "type": "int", "default": 2})
    assert one.canonical() != two.canonical()  # defaults matter


# -- levels (Confluent's table: what each level lets you change) ---------------------------------

V1 = rec({"name": "a", "type": "int"}, {"name": "opt", "type": "int", "default": 0})
ADD_OPTIONAL = rec(
    {"name": "a", "type": "int"},
    {"name": "opt", "type": "int", "default": 0},
    {"name": "b", "type": "int", "default": 0},
)
ADD_REQUIRED = rec(
    {"name": "a", "type": "int"},
    {"name": "opt", "type": "int", "default": 0},
    {"name": "c", "type": "int"},
)
DELETE_REQUIRED = rec({"name": "opt", "type": "int", "default": 0})
DELETE_OPTIONAL = rec({"name": "a", "type": "int"})


@pytest.mark.parametrize(
    ("level", "change", "allowed"),
    [
        ("BACKWARD", ADD_OPTIONAL, True),
        ("BACKWARD", DELETE_REQUIRED, True),
        ("BACKWARD", ADD_REQUIRED, False),
        ("FORWARD", ADD_REQUIRED, True),
        ("FORWARD", DELETE_OPTIONAL, True),
        ("FORWARD", DELETE_REQUIRED, False),
        ("FULL", ADD_OPTIONAL, True),
        ("FULL", DELETE_OPTIONAL, True),
        ("FULL", ADD_REQUIRED, False),
        ("FULL", DELETE_REQUIRED, False),
        ("NONE", ADD_REQUIRED, True),
        ("NONE", DELETE_REQUIRED, True),
    ],
)
def test_levels(level: str, change: AvroSchema, allowed: bool) -> None:
    assert (not check(CompatibilityLevel.parse(level), change, [V1])) is allowed


def test_transitive_levels_check_every_earlier_version() -> None:
    v1 = rec({"name": "a", "type": "int"})
    v2 = rec({"name": "b", "type": "int", "default": 0})
    v3 = rec(
        {"name": "b", "type": "int", "default": 0}, {"name": "a", "type": "string", "default": ""}
    )
    assert not check(CompatibilityLevel.BACKWARD, v3, [v1, v2])
    assert check(CompatibilityLevel.BACKWARD_TRANSITIVE, v3, [v1, v2])
    assert check(CompatibilityLevel.FORWARD_TRANSITIVE, v3, [v1, v2])
    assert check(CompatibilityLevel.FULL_TRANSITIVE, v3, [v1, v2])
    assert not check(CompatibilityLevel.FULL_TRANSITIVE, v2, [v2])


def test_first_version_is_always_allowed() -> None:
    assert check(CompatibilityLevel.FULL_TRANSITIVE, V1, []) == []


# -- JSON Schema (Confluent's difference types) ----------------------------------------------------


def js(obj: Any) -> JsonSchema:
    return JsonSchema(json.dumps(obj))


def obj(
    props: dict[str, Any], *, closed: bool = False, required: list[str] | None = None
) -> JsonSchema:
    body: dict[str, Any] = {"type": "object", "properties": props}
    if closed:
        body["additionalProperties"] = False
    if required:
        body["required"] = required
    return js(body)


def backward_ok(old: JsonSchema, new: JsonSchema) -> bool:
    return not new.read_errors(old)


@pytest.mark.parametrize(
    ("old", "new", "compatible"),
    [
        # type widened (integer -> number) is compatible; narrowed is not
        ({"type": "integer"}, {"type": "number"}, True),
        ({"type": "number"}, {"type": "integer"}, False),
        ({"type": ["string", "null"]}, {"type": "string"}, False),
        ({"type": "string"}, {"type": ["string", "null"]}, True),
        ({"type": "string"}, {"type": "integer"}, False),
        # enum extended / narrowed
        ({"enum": ["a"]}, {"enum": ["a", "b"]}, True),
        ({"enum": ["a", "b"]}, {"enum": ["a"]}, False),
        # limits relaxed / tightened / added / removed
        ({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 10}, True),
        ({"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 5}, False),
        ({"type": "string"}, {"type": "string", "maxLength": 5}, False),
        ({"type": "string", "minLength": 3}, {"type": "string"}, True),
        ({"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 1}, False),
        ({"type": "integer", "maximum": 5}, {"type": "integer", "maximum": 9}, True),
        ({"type": "string"}, {"type": "string", "pattern": "^a"}, False),
        ({"type": "string", "pattern": "^a"}, {"type": "string"}, True),
        (
            {"type": "array", "items": {"type": "integer"}},
            {"type": "array", "items": {"type": "number"}},
            True,
        ),
        (
            {"type": "array", "items": {"type": "number"}},
            {"type": "array", "items": {"type": "integer"}},
            False,
        ),
        ({"type": "array"}, {"type": "array", "uniqueItems": True}, False),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            {"oneOf": [{"type": "string"}]},
            False,
        ),
        (
            {"oneOf": [{"type": "string"}]},
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            True,
        ),
        ({"type": "string"}, {"oneOf": [{"type": "string"}, {"type": "integer"}]}, True),
    ],
)
def test_json_schema_rules(old: Any, new: Any, compatible: bool) -> None:
    assert backward_ok(js(old), js(new)) is compatible


def test_json_schema_content_models() -> None:
    a = {"a": {"type": "string"}}
    ab = {"a": {"type": "string"}, "b": {"type": "integer"}}
    # closed model: adding an optional property is compatible, removing one is not
    assert backward_ok(obj(a, closed=True), obj(ab, closed=True))
    assert not backward_ok(obj(ab, closed=True), obj(a, closed=True))
    # open model: adding a property is not (old data may hold anything there), removing one is
    assert not backward_ok(obj(a), obj(ab))
    assert backward_ok(obj(ab), obj(a))
    # a new required property needs a default
    assert not backward_ok(obj(a, closed=True), obj(ab, closed=True, required=["b"]))
    with_default = {"a": {"type": "string"}, "b": {"type": "integer", "default": 0}}
    assert backward_ok(obj(a, closed=True), obj(with_default, closed=True, required=["b"]))
    # an existing property made required
    assert not backward_ok(obj(a), obj(a, required=["a"]))
    # closing an open model
    assert not backward_ok(obj(a), obj(a, closed=True))
    assert backward_ok(obj(a, closed=True), obj(a))


def test_json_schema_refs_are_followed() -> None:
    old = js(
        {
            "definitions": {"x": {"type": "integer"}},
            "properties": {"p": {"$ref": "#/definitions/x"}},
        }
    )
    new = js(
        {"definitions": {"x": {"type": "string"}}, "properties": {"p": {"$ref": "#/definitions/x"}}}
    )
    assert not backward_ok(old, new)


def test_json_schema_invalid_documents_are_refused() -> None:
    with pytest.raises(InvalidSchemaError):
        js({"type": "no-such-type"})
    with pytest.raises(InvalidSchemaError):
        JsonSchema("[1, 2]")


# -- Protobuf (Confluent's difference types) -------------------------------------------------------


def proto(body: str, package: str = "p") -> ProtobufSchema:
    return ProtobufSchema(f'syntax = "proto3";\npackage {package};\n{body}')


def proto_ok(old: ProtobufSchema, new: ProtobufSchema) -> bool:
    return not new.read_errors(old)


BASE = "message M { string a = 1; int32 n = 2; }"


@pytest.mark.parametrize(
    ("new", "compatible"),
    [
        ("message M { string a = 1; int32 n = 2; bool extra = 3; }", True),  # FIELD_ADDED
        ("message M { string a = 1; }", True),  # FIELD_REMOVED
        ("message M { string renamed = 1; int32 n = 2; }", True),  # name changes keep the number
        ("message M { bytes a = 1; int32 n = 2; }", True),  # string/bytes share a wire type
        ("message M { string a = 1; int64 n = 2; }", True),  # int32/int64 are wire compatible
        ("message M { string a = 1; double n = 2; }", False),  # FIELD_SCALAR_KIND_CHANGED
        ("message M { string a = 1; N n = 2; } message N {}", False),  # FIELD_KIND_CHANGED
        ("message Other { string a = 1; }", False),  # MESSAGE_REMOVED
        ("message M { oneof o { string a = 1; int32 n = 2; } }", False),  # moved to a oneof
        ("message M { string a = 1; int32 n = 2; } message Added {}", True),  # MESSAGE_ADDED
    ],
)
def test_protobuf_rules(new: str, compatible: bool) -> None:
    assert proto_ok(proto(BASE), proto(new)) is compatible


def test_protobuf_package_change_is_incompatible() -> None:
    assert not proto_ok(proto(BASE), proto(BASE, package="q"))


def test_protobuf_named_type_change() -> None:
    old = proto("message A {} message B {} message M { A x = 1; }")
    assert not proto_ok(old, proto("message A {} message B {} message M { B x = 1; }"))


def test_protobuf_text_and_descriptor_forms_are_one_schema() -> None:
    text = proto(BASE)
    assert ProtobufSchema(text.serialized()).canonical() == text.canonical()
    assert text.record_name() == "p.M"


def test_protobuf_invalid_text_is_refused() -> None:
    with pytest.raises(InvalidSchemaError, match="strin"):
        proto("message M { strin a = 1; }")


def test_protobuf_imports_resolve_through_references() -> None:
    other = 'syntax = "proto3"; package q; message O { int32 x = 1; }'
    main = 'syntax = "proto3"; package p; import "other.proto"; message M { q.O o = 1; }'
    with pytest.raises(InvalidSchemaError):
        ProtobufSchema(main)
    assert ProtobufSchema(main, resolved={"other.proto": other}).record_name() == "p.M"


def test_protobuf_descriptor_renders_back_to_the_same_schema() -> None:
    source = proto(
        'import "google/protobuf/timestamp.proto";\n'
        "message M { string a = 1; map<string, int32> m = 2; oneof o { int32 x = 3; string y = 4; }\n"
        "  optional int64 z = 5; repeated N ns = 6; google.protobuf.Timestamp t = 7;\n"
        '  message N { E e = 1; enum E { A = 0; B = 1; } } reserved 9, 10 to 12; reserved "old"; }\n'
        "enum Top { T0 = 0; }\n"
        "service S { rpc Call (M) returns (stream M.N); }"
    )
    as_descriptor = ProtobufSchema(source.serialized())
    text = as_descriptor.as_text()
    assert text is not as_descriptor and "message M {" in text.text
    assert text.canonical() == source.canonical()
