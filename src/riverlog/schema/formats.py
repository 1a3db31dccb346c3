"""One entry point from (type, text, references) to a parsed schema of the right format."""

from __future__ import annotations

from collections.abc import Mapping

from riverlog.schema.avro import AvroSchema
from riverlog.schema.json_schema import JsonSchema
from riverlog.schema.protobuf import ProtobufSchema
from riverlog.schema.types import ParsedSchema, SchemaReference, SchemaType

SCHEMA_TYPES = (SchemaType.JSON, SchemaType.PROTOBUF, SchemaType.AVRO)  # /schemas/types order


def parse_schema(
    schema_type: SchemaType,
    text: str,
    references: tuple[SchemaReference, ...] = (),
    resolved: Mapping[str, str] | None = None,
) -> ParsedSchema:
    """Parse `text` as `schema_type`; `resolved` maps each transitive reference name to its text,
    dependencies first. Raises InvalidSchemaError."""
    if schema_type is SchemaType.AVRO:
        return AvroSchema(text, references, resolved)
    if schema_type is SchemaType.JSON:
        return JsonSchema(text, references, resolved)
    return ProtobufSchema(text, references, resolved)
