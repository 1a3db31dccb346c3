"""Avro `?normalize=true` form, checked against the expected strings of Confluent's own tests
(AvroSchemaTest.testNormalization, testNormalizationPreservesMetadataForPrimitiveTypes and the
RestApiTest normalization cases) and the attribute order of Java's `Schema.toString`."""

from __future__ import annotations

import json

from riverlog.schema.avro import AvroSchema
from riverlog.schema.avro_normalize import normalized_avro


def normalized(obj: object) -> str:
    return AvroSchema(obj if isinstance(obj, str) else json.dumps(obj)).normalized_text()


def test_confluent_normalization_doc_and_field_order() -> None:
    text = (
        '{"type":"record","name":"myrecord","doc":"hi\\"there",'
        '"fields":[{"type":"string","name":"f1","doc":"bye\\"now"}]}'
    )
    assert normalized(text) == (
        '{"type":"record","name":"myrecord","doc":"hi\\"there",'
        '"fields":[{"name":"f1","type":"string","doc":"bye\\"now"}]}'
    )


def test_confluent_normalization_preserves_metadata_for_primitive_types() -> None:
    text = (
        '{"connect.name": "some.scope.Envelope","fields": [{"default": null,"name": "before",'
        '"type": ["null",{"connect.name": "some.scope.Value","fields": [{"name": "created_at",'
        '"type": {"connect.name": "io.debezium.time.Timestamp","connect.version": 1,'
        '"type": "long"}},{"name":"normal_long","type":"long"}],"name": "Value",'
        '"type": "record"}]},{"default": null,"name": "after","type": ["null","Value"]}],'
        '"name": "Envelope","namespace": "some.scope","type": "record"}'
    )
    assert normalized(text) == (
        '{"type":"record","name":"Envelope","namespace":"some.scope","fields":[{"name":"before",'
        '"type":["null",{"type":"record","name":"Value","fields":[{"name":"created_at",'
        '"type":{"type":"long","connect.name":"io.debezium.time.Timestamp","connect.version":1}},'
        '{"name":"normal_long","type":"long"}],"connect.name":"some.scope.Value"}],'
        '"default":null},{"name":"after","type":["null","Value"],"default":null}],'
        '"connect.name":"some.scope.Envelope"}'
    )


def test_field_properties_sorted_and_nested_objects_sorted() -> None:
    # RestApiTest: "aprop" before "zprop"; extraMetadata {"b":2,"a":1} equals {"a":1,"b":2}
    text = (
        '{"type":"record","name":"myrecord","fields":'
        '[{"type":"string","name":"field1","zprop":"z","aprop":"a"}]}'
    )
    assert normalized(text) == (
        '{"type":"record","name":"myrecord","fields":'
        '[{"name":"field1","type":"string","aprop":"a","zprop":"z"}]}'
    )
    one = {"type": "record", "name": "r", "fields": [], "extraMetadata": {"a": 1, "b": 2}}
    two = {"extraMetadata": {"b": 2, "a": 1}, "fields": [], "name": "r", "type": "record"}
    assert normalized(one) == normalized(two)
    assert normalized({"type": "int"}) == normalized('"int"') == '"int"'


def test_named_types_logical_types_and_field_attributes() -> None:
    schema = {
        "type": "record",
        "name": "ex.R",
        "aliases": ["Old", "other.Older"],
        "doc": "",
        "fields": [
            {"name": "f", "type": {"type": "double"}, "default": 0.5, "aliases": ["h", "g"]},
            {"name": "o", "type": "int", "order": "descending", "doc": ""},
            {
                "name": "d",
                "type": {
                    "type": "int",
                    "connect.name": "io.debezium.time.Date",
                    "logicalType": "date",
                },
            },
            {
                "name": "amount",
                "type": {"type": "bytes", "scale": 0, "precision": 9, "logicalType": "decimal"},
            },
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"], "default": "X"}},
            {"name": "again", "type": "ex.E"},
            {"name": "m", "type": {"type": "map", "values": {"type": "string"}}},
            {"name": "rec", "type": {"type": "record", "name": "N", "fields": []}, "default": {}},
        ],
    }
    assert normalized(schema) == (
        '{"type":"record","name":"R","namespace":"ex","fields":['
        '{"name":"f","type":"double","default":0.5,"aliases":["g","h"]},'
        '{"name":"o","type":"int","doc":"","order":"descending"},'
        '{"name":"d","type":{"type":"int","logicalType":"date","connect.name":"io.debezium.time.Date"}},'
        '{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":0}},'
        '{"name":"e","type":{"type":"enum","name":"E","symbols":["X"],"default":"X"}},'
        '{"name":"again","type":"E"},'
        '{"name":"m","type":{"type":"map","values":"string"}},'
        '{"name":"rec","type":{"type":"record","name":"N","fields":[]},"default":{}}],'
        '"aliases":["Old","other.Older"]}'
    )


def test_layouts_of_one_schema_normalize_alike() -> None:
    a = {
        "type": "record",
        "namespace": "ex",
        "name": "R",
        "fields": [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}],
    }
    b = {
        "fields": [{"type": {"symbols": ["X"], "name": "ex.E", "type": "enum"}, "name": "e"}],
        "name": "ex.R",
        "type": "record",
    }
    assert normalized(a) == normalized(b)
    assert normalized(normalized(a)) == normalized(a)  # idempotent


def test_float_default_written_as_a_float() -> None:
    # Java reads a default against the field's type (a union's first branch): 1 for a double is 1.0
    schema = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "x", "type": ["double", "null"], "default": 1}],
    }
    assert normalized_avro(schema) == (
        '{"type":"record","name":"r","fields":[{"name":"x","type":["double","null"],"default":1.0}]}'
    )


def test_references_written_as_names_or_inlined() -> None:
    ref = {
        "type": "record",
        "name": "Sub",
        "namespace": "otherns",
        "fields": [{"name": "x", "type": "int"}],
    }
    main = {"type": "record", "name": "m", "fields": [{"name": "s", "type": "otherns.Sub"}]}
    assert normalized_avro(main, {"otherns.Sub": ref}) == (
        '{"type":"record","name":"m","fields":[{"name":"s","type":"otherns.Sub"}]}'
    )
    assert normalized_avro(main, {"otherns.Sub": ref}, inline=True) == (
        '{"type":"record","name":"m","fields":[{"name":"s","type":{"type":"record","name":"Sub",'
        '"namespace":"otherns","fields":[{"name":"x","type":"int"}]}}]}'
    )


def test_stored_text_is_confluents_canonical_string() -> None:
    """Without normalize Confluent stores Java's Schema.toString of the schema as sent: its attribute
    order and relative names, but properties, aliases and defaults as written (not sorted)."""
    text = (
        '{"fields": [{"type": {"type": "int"}, "name": "a", "zprop": 1, "aprop": 2, '
        '"aliases": ["y", "x"]}, {"name": "b", "type": {"type": "record", "name": "ex.B", '
        '"fields": []}}], "name": "R", "namespace": "ex", "type": "record", "doc": "", "z": 1, "a": 2}'
    )
    schema = AvroSchema(text)
    assert schema.text == (
        '{"type":"record","name":"R","namespace":"ex","doc":"","fields":[{"name":"a","type":"int",'
        '"aliases":["y","x"],"zprop":1,"aprop":2},{"name":"b","type":{"type":"record","name":"B",'
        '"fields":[]}}],"z":1,"a":2}'
    )
    # equality ignores layout and property order (as Java's Schema.equals), not content
    reordered = AvroSchema(schema.text.replace('"z":1,"a":2', '"a":2,"z":1'))
    assert reordered == schema and reordered.text != schema.text
    assert AvroSchema(schema.text.replace('"a":2}', '"a":3}')) != schema
