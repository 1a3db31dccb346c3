"""Avro `?normalize=true` form: full names, primitives collapsed, attributes in the canonical order,
doc/aliases/default kept and other attributes dropped; equal for layouts of one schema."""

from __future__ import annotations

import json

from riverlog.schema.avro import AvroSchema


def normalized(obj: object) -> str:
    return AvroSchema(json.dumps(obj)).normalized_text()


def test_layouts_of_one_schema_normalize_alike() -> None:
    a = {
        "type": "record",
        "namespace": "ex",
        "name": "R",
        "fields": [{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}],
    }
    b = {
        "fields": [{"type": {"symbols": ["X"], "name": "ex.E", "type": "enum"}, "name": "e"}],
        "name": "R",
        "namespace": "ex",
        "type": "record",
        "custom": 1,
    }
    assert normalized(a) == normalized(b)
    assert json.loads(normalized(a)) == {
        "name": "ex.R",
        "type": "record",
        "fields": [{"name": "e", "type": {"name": "ex.E", "type": "enum", "symbols": ["X"]}}],
    }


def test_kept_attributes_and_logical_types() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "aliases": ["Old"],
        "doc": "d",
        "fields": [
            {"name": "f", "type": {"type": "long"}, "default": 0, "aliases": ["g"], "doc": "x"},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "tags", "type": {"type": "map", "values": {"type": "string"}}},
        ],
    }
    assert normalized(schema) == (
        '{"name":"R","type":"record","fields":['
        '{"name":"f","type":"long","doc":"x","aliases":["g"],"default":0},'
        '{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},'
        '{"name":"tags","type":{"type":"map","values":"string"}}],'
        '"doc":"d","aliases":["Old"]}'
    )
    assert normalized("int") == '"int"'
