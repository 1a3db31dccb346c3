"""The records of the `_schemas` topic, in Confluent Schema Registry's exact JSON shapes.

Keys (JSON, field order as Confluent writes them):
  {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}   value: SchemaValue, or null (hard delete)
  {"keytype":"CONFIG","subject":S|null,"magic":0}          value: {"compatibilityLevel":L}, or null
  {"keytype":"MODE","subject":S|null,"magic":0}            value: {"mode":M}, or null
  {"keytype":"DELETE_SUBJECT","subject":S,"magic":0}       value: {"subject":S,"version":V}
  {"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}        value: {"subject":S}
  {"keytype":"NOOP","magic":0}                              value: null
SchemaValue: {"subject","version","id","schemaType" (absent for AVRO),"references" (absent when none),
"schema","deleted"}. Records of a key type this module does not know are skipped on replay, as
Confluent's reader does.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from riverlog.schema.types import SchemaReference, SchemaType


class KeyType(enum.StrEnum):
    CONFIG = "CONFIG"
    SCHEMA = "SCHEMA"
    MODE = "MODE"
    NOOP = "NOOP"
    DELETE_SUBJECT = "DELETE_SUBJECT"
    CLEAR_SUBJECT = "CLEAR_SUBJECT"


class RecordError(ValueError):
    """A `_schemas` record that does not decode."""


@dataclass(frozen=True)
class RegistryKey:
    keytype: KeyType
    subject: str | None = None
    version: int | None = None

    @property
    def magic(self) -> int:
        return 1 if self.keytype is KeyType.SCHEMA else 0

    def encode(self) -> bytes:
        body: dict[str, Any] = {"keytype": self.keytype.value}
        if self.keytype is not KeyType.NOOP:
            body["subject"] = self.subject
        if self.keytype is KeyType.SCHEMA:
            body["version"] = self.version
        body["magic"] = self.magic
        return _dumps(body)

    @classmethod
    def decode(cls, raw: bytes) -> RegistryKey | None:
        """The key, or None for a key type this registry does not know."""
        data = _loads(raw)
        if not isinstance(data, dict):
            raise RecordError(f"key is not a JSON object: {raw!r}")
        try:
            keytype = KeyType(str(data.get("keytype")))
        except ValueError:
            return None
        version = data.get("version")
        subject = data.get("subject")
        return cls(keytype, subject, int(version) if version is not None else None)


@dataclass(frozen=True)
class SchemaValue:
    subject: str
    version: int
    id: int
    schema: str
    schema_type: SchemaType = SchemaType.AVRO
    references: tuple[SchemaReference, ...] = field(default=())
    deleted: bool = False

    def encode(self) -> bytes:
        body: dict[str, Any] = {"subject": self.subject, "version": self.version, "id": self.id}
        if self.schema_type is not SchemaType.AVRO:
            body["schemaType"] = self.schema_type.value
        if self.references:
            body["references"] = [r.to_json() for r in self.references]
        body["schema"] = self.schema
        body["deleted"] = self.deleted
        return _dumps(body)

    @classmethod
    def decode(cls, raw: bytes) -> SchemaValue:
        data = _loads(raw)
        try:
            return cls(
                subject=str(data["subject"]),
                version=int(data["version"]),
                id=int(data["id"]),
                schema=str(data["schema"]),
                schema_type=SchemaType.parse(data.get("schemaType")),
                references=tuple(
                    SchemaReference.from_json(r) for r in data.get("references") or ()
                ),
                deleted=bool(data.get("deleted", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"bad schema value {raw!r}: {exc}") from None


def config_value(level: str) -> bytes:
    return _dumps({"compatibilityLevel": level})


def mode_value(mode: str) -> bytes:
    return _dumps({"mode": mode})


def delete_subject_value(subject: str, version: int) -> bytes:
    return _dumps({"subject": subject, "version": version})


def clear_subject_value(subject: str) -> bytes:
    return _dumps({"subject": subject})


def decode_object(raw: bytes) -> dict[str, Any]:
    data = _loads(raw)
    if not isinstance(data, dict):
        raise RecordError(f"value is not a JSON object: {raw!r}")
    return data


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RecordError(f"not JSON: {raw[:80]!r}") from exc
