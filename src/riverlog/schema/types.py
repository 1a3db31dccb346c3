"""What every schema format shares: its type name, references, the parse error, and the parsed-schema
interface the registry and the serdes use (canonical text for de-duplication, the record name for the
subject name strategies, and the reader/writer compatibility check)."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SchemaError(ValueError):
    """Base of the schema errors."""


class InvalidSchemaError(SchemaError):
    """The schema text does not parse, or names a type it cannot resolve (Confluent's 42201)."""


class SchemaType(enum.StrEnum):
    """Confluent's `schemaType` names; AVRO is the default when a request names none."""

    AVRO = "AVRO"
    JSON = "JSON"
    PROTOBUF = "PROTOBUF"

    @classmethod
    def parse(cls, name: str | None) -> SchemaType:
        if name is None or name == "":
            return cls.AVRO
        try:
            return cls(name.upper())
        except ValueError:
            raise InvalidSchemaError(f"Unknown schema type {name!r}") from None


@dataclass(frozen=True)
class SchemaReference:
    """A reference to another registered schema: `name` is how the referring schema names it (an Avro
    full name, a JSON Schema URL, a .proto import path)."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SchemaReference:
        try:
            return cls(str(data["name"]), str(data["subject"]), int(data["version"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidSchemaError(f"Invalid schema reference {dict(data)!r}") from None


class ParsedSchema(ABC):
    """A schema parsed by its format's library. `text` is what the registry stores and serves."""

    schema_type: SchemaType

    def __init__(self, text: str, references: tuple[SchemaReference, ...] = ()) -> None:
        self.text = text
        self.references = references

    @abstractmethod
    def canonical(self) -> str:
        """A text equal for equal schemas whatever their layout (registering twice returns one id)."""

    def normalized_text(self) -> str:
        """The text `?normalize=true` registers and compares (the schema as it is where the format has
        no normalization here)."""
        return self.text

    @abstractmethod
    def record_name(self) -> str | None:
        """The fully qualified name of the top-level record/message (RecordNameStrategy), if any."""

    @abstractmethod
    def read_errors(self, writer: ParsedSchema) -> list[str]:
        """Why data written with `writer` cannot be read with this schema (empty when it can)."""

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ParsedSchema)
            and other.schema_type == self.schema_type
            and other.canonical() == self.canonical()
            and other.references == self.references
        )

    def __hash__(self) -> int:
        return hash((self.schema_type, self.canonical(), self.references))
