"""Decoding record values in Confluent's wire format (magic byte 0, 4-byte schema id, payload) with
the schema registry: Avro through fastavro, JSON Schema as its JSON text; Protobuf is labelled with its
schema id but not decoded. Schemas are fetched once per id (`GET /schemas/ids/{id}`) and cached.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

from riverlog.console.rest import RegistryApi, RestError

MAGIC = 0


class SchemaDecoder:
    def __init__(self, registry: RegistryApi) -> None:
        self.registry = registry
        self._schemas: dict[int, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def decode(self, raw: bytes | None) -> tuple[str, str] | None:
        """(text, label) for a registry-framed value, None when `raw` is not one (or cannot be)."""
        if not raw or len(raw) < 5 or raw[0] != MAGIC or not self.registry.configured:
            return None
        schema_id = int.from_bytes(raw[1:5], "big")
        try:
            kind, schema = self._schema(schema_id)
        except RestError:
            return None
        payload = raw[5:]
        try:
            if kind == "AVRO":
                from fastavro import schemaless_reader

                record = schemaless_reader(io.BytesIO(payload), schema, None)
                text = json.dumps(record, indent=2, default=str, ensure_ascii=False)
            elif kind == "JSON":
                text = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
            else:
                return f"{len(payload)} bytes of {kind}", f"{kind} schema {schema_id} (not decoded)"
        except Exception:  # not what the framing claimed: show the raw text instead
            return None
        return text, f"{kind} schema {schema_id}"

    def _schema(self, schema_id: int) -> tuple[str, Any]:
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        answer = self.registry.call("GET", f"/schemas/ids/{schema_id}")
        kind = str(answer.get("schemaType") or "AVRO")
        schema: Any = answer.get("schema", "")
        if kind == "AVRO":
            from fastavro import parse_schema

            schema = parse_schema(json.loads(schema))
        with self._lock:
            self._schemas[schema_id] = (kind, schema)
        return kind, schema
