"""Avro schemas: parsed by fastavro (for the serdes) and by Apache Avro's Python library (whose
`avro.compatibility` is the Java `SchemaCompatibility` port: the Avro specification's schema resolution
rules, which Confluent's registry applies to Avro).

References name other schemas' named types: they are parsed first, in dependency order, and their named
types are visible to the referring schema (as Confluent's `AvroSchema` does with its resolved references).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import avro.compatibility as avro_compat
import avro.errors
import avro.name
import avro.schema
import fastavro
import fastavro.schema

from riverlog.schema.avro_normalize import canonical_avro, normalized_avro
from riverlog.schema.types import InvalidSchemaError, ParsedSchema, SchemaReference, SchemaType

_CHECK_NAMES = {
    "name_mismatch": "NAME_MISMATCH",
    "fixed_size_mismatch": "FIXED_SIZE_MISMATCH",
    "missing_enum_symbols": "MISSING_ENUM_SYMBOLS",
    "reader_field_missing_default_value": "READER_FIELD_MISSING_DEFAULT_VALUE",
    "type_mismatch": "TYPE_MISMATCH",
    "missing_union_branch": "MISSING_UNION_BRANCH",
}


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class AvroSchema(ParsedSchema):
    """One Avro schema; `resolved` maps each (transitive) reference's name to its schema text,
    dependencies before dependents."""

    schema_type = SchemaType.AVRO

    def __init__(
        self,
        text: str,
        references: tuple[SchemaReference, ...] = (),
        resolved: Mapping[str, str] | None = None,
    ) -> None:
        try:
            obj = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise InvalidSchemaError(f"Invalid schema: not JSON ({exc})") from None
        super().__init__(_compact(obj), references)
        self.obj = obj
        self._resolved = dict(resolved or {})
        names = avro.name.Names()
        named: dict[str, Any] = {}
        try:
            for ref_text in self._resolved.values():
                ref_obj = json.loads(ref_text)
                avro.schema.make_avsc_object(ref_obj, names)
                fastavro.parse_schema(ref_obj, named_schemas=named)
            self.avro = avro.schema.make_avsc_object(obj, names)
            self.parsed = fastavro.parse_schema(obj, named_schemas=named)
        except (avro.errors.AvroException, fastavro.schema.SchemaParseException) as exc:
            raise InvalidSchemaError(f"Invalid schema: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidSchemaError(f"Invalid schema: {exc}") from None
        self.named_schemas = named
        # Stored and served as Confluent's canonical string (Java's Schema.toString of the schema
        # as sent); equality compares that form with object keys sorted.
        try:
            self.text = canonical_avro(obj, self._reference_objs())
        except (TypeError, ValueError, KeyError, AttributeError):  # pragma: no cover - defensive
            self.text = _compact(obj)
        self._canonical = json.dumps(json.loads(self.text), sort_keys=True, separators=(",", ":"))

    def canonical(self) -> str:
        return self._canonical

    def normalized_text(self) -> str:
        """`?normalize=true`: Confluent's normalized form (see `avro_normalize`)."""
        return normalized_avro(self.obj, self._reference_objs())

    def resolved_normalized_text(self) -> str:
        """The normalized form with the referenced types written in full at first use (how a client
        that resolved the references itself sends the schema)."""
        return normalized_avro(self.obj, self._reference_objs(), inline=True)

    def _reference_objs(self) -> dict[str, Any]:
        return {name: json.loads(text) for name, text in self._resolved.items()}

    def record_name(self) -> str | None:
        name = getattr(self.avro, "fullname", None)
        return str(name) if name else None

    def parsing_canonical_form(self) -> str:
        """The Avro specification's Parsing Canonical Form (what fingerprints are taken over)."""
        return str(fastavro.schema.to_parsing_canonical_form(self.parsed))

    def read_errors(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, AvroSchema):
            return [f"Incompatible schema type: {writer.schema_type.value} cannot be read as AVRO"]
        checker = avro_compat.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
        result = checker.get_compatibility(self.avro, writer.avro)
        if result.compatibility is not avro_compat.SchemaCompatibilityType.incompatible:
            return []
        kinds = [_CHECK_NAMES.get(k.value, k.value.upper()) for k in result.incompatibilities]
        kind = kinds[0] if kinds else "INCOMPATIBLE"
        where = ", ".join(sorted(result.locations))
        return [
            f"{{errorType:'{kind}', description:'{message}', location:'{where}'}}"
            for message in sorted(result.messages)
        ] or [f"{{errorType:'{kind}', location:'{where}'}}"]
