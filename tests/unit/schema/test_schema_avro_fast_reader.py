"""The Avro serde's record reader (fastavro's Cython reader with the per-call setup done once) reads
what the public `schemaless_reader` reads: named types used twice, logical types, unions, maps."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import fastavro

from riverlog.schema import serdes

SCHEMA = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "home",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [{"name": "city", "type": "string"}],
            },
        },
        {"name": "work", "type": ["null", "Address"], "default": None},
        {"name": "tags", "type": {"type": "map", "values": "int"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    ],
}


def test_fast_reader_reads_what_the_public_reader_reads() -> None:
    assert serdes._read_data is not None  # the Cython build is what the venv has
    parsed = fastavro.parse_schema(SCHEMA)
    record = {
        "id": 3,
        "price": decimal.Decimal("12.34"),
        "at": dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC),
        "home": {"city": "Oslo"},
        "work": {"city": "Bergen"},
        "tags": {"x": 1},
        "kind": "B",
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    data = out.getvalue()
    read = serdes._record_reader(parsed, None)
    expected = fastavro.schemaless_reader(io.BytesIO(data), parsed, None)
    assert read(io.BytesIO(data)) == expected == record
    assert read(io.BytesIO(data)) == expected  # reusable
    # with a reader schema the public function does the resolution
    reader = fastavro.parse_schema({**SCHEMA, "fields": SCHEMA["fields"][:1]})
    assert serdes._record_reader(parsed, reader)(io.BytesIO(data)) == {"id": 3}
