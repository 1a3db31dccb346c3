"""The registry's in-memory image of the `_schemas` topic.

Invariants:
- State changes only in `apply`, one record at a time in topic order: live operation and recovery (replay
  on start, a follower reading the leader's writes) are the same code path.
- `versions[subject]` maps version -> SchemaValue for every version not hard-deleted (soft-deleted ones
  carry `deleted=True`); `by_id[id]` is the (type, text, references) of every id that some kept version
  uses; `max_id` only grows, so an id is never reused while its records are in the topic.
- Readers take `lock` for a consistent view; `apply` holds it while it changes anything. `offset` is the
  last applied topic offset (-1 before the first), signalled on `applied`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from riverlog.registry.records import (
    KeyType,
    RecordError,
    RegistryKey,
    SchemaValue,
    decode_object,
)
from riverlog.schema.types import SchemaReference, SchemaType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredSchema:
    """What an id names: the schema, independent of the subjects that use it."""

    schema_type: SchemaType
    schema: str
    references: tuple[SchemaReference, ...]


class RegistryState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.applied = threading.Condition(self.lock)
        self.offset = -1
        self.versions: dict[str, dict[int, SchemaValue]] = {}
        self.by_id: dict[int, StoredSchema] = {}
        self.max_id = 0
        self.config: dict[str | None, str] = {}
        self.mode: dict[str | None, str] = {}

    # -- replay -------------------------------------------------------------------------------------

    def apply(self, offset: int, key_raw: bytes | None, value_raw: bytes | None) -> None:
        """Apply one `_schemas` record; undecodable records are logged and skipped."""
        with self.lock:
            try:
                if key_raw is not None:
                    key = RegistryKey.decode(key_raw)
                    if key is not None:
                        self._apply(key, value_raw)
            except RecordError as exc:
                log.warning("skipping _schemas record at offset %d: %s", offset, exc)
            self.offset = max(self.offset, offset)
            self.applied.notify_all()

    def _apply(self, key: RegistryKey, value_raw: bytes | None) -> None:
        if key.keytype is KeyType.SCHEMA:
            self._apply_schema(key, value_raw)
        elif key.keytype is KeyType.CONFIG:
            self._apply_setting(self.config, key.subject, value_raw, "compatibilityLevel")
        elif key.keytype is KeyType.MODE:
            self._apply_setting(self.mode, key.subject, value_raw, "mode")
        elif key.keytype is KeyType.DELETE_SUBJECT and value_raw is not None:
            self._apply_delete_subject(decode_object(value_raw))
        elif key.keytype is KeyType.CLEAR_SUBJECT and value_raw is not None:
            self._apply_clear_subject(str(decode_object(value_raw).get("subject")))

    def _apply_schema(self, key: RegistryKey, value_raw: bytes | None) -> None:
        subject, version = key.subject or "", key.version or 0
        if value_raw is None:  # tombstone: a permanent delete
            removed = self.versions.get(subject, {}).pop(version, None)
            if removed is not None:
                self._maybe_forget_id(removed.id)
            return
        value = SchemaValue.decode(value_raw)
        self.versions.setdefault(value.subject, {})[value.version] = value
        self.by_id[value.id] = StoredSchema(value.schema_type, value.schema, value.references)
        self.max_id = max(self.max_id, value.id)

    @staticmethod
    def _apply_setting(
        table: dict[str | None, str], subject: str | None, value_raw: bytes | None, name: str
    ) -> None:
        if value_raw is None:
            table.pop(subject, None)
            return
        value = decode_object(value_raw).get(name)
        if value is None:
            table.pop(subject, None)
        else:
            table[subject] = str(value)

    def _apply_delete_subject(self, data: dict[str, object]) -> None:
        subject = str(data.get("subject"))
        upto = int(str(data.get("version", 0)))
        versions = self.versions.get(subject, {})
        for number, value in list(versions.items()):
            if number <= upto and not value.deleted:
                versions[number] = _soft_deleted(value)

    def _apply_clear_subject(self, subject: str) -> None:
        versions = self.versions.get(subject, {})
        for number, value in list(versions.items()):
            if value.deleted:
                del versions[number]
                self._maybe_forget_id(value.id)

    def _maybe_forget_id(self, schema_id: int) -> None:
        if not any(v.id == schema_id for vs in self.versions.values() for v in vs.values()):
            self.by_id.pop(schema_id, None)

    # -- queries (callers hold `lock`) --------------------------------------------------------------

    def subject_versions(self, subject: str, deleted: bool = False) -> list[SchemaValue]:
        """The subject's versions in order, soft-deleted ones only when `deleted`."""
        versions = self.versions.get(subject, {})
        return [versions[v] for v in sorted(versions) if deleted or not versions[v].deleted]

    def subjects(self, deleted: bool = False) -> list[str]:
        return sorted(s for s in self.versions if self.subject_versions(s, deleted))

    def find_id(
        self, stored: StoredSchema, canonical_of: Callable[[int], str], canonical: str
    ) -> int | None:
        """An existing id whose schema equals `stored` (by canonical text), if any."""
        for schema_id, candidate in self.by_id.items():
            if (
                candidate.schema_type == stored.schema_type
                and candidate.references == stored.references
                and canonical_of(schema_id) == canonical
            ):
                return schema_id
        return None

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of live versions whose schemas reference `subject` at `version`."""
        out = set()
        for versions in self.versions.values():
            for value in versions.values():
                if value.deleted:
                    continue
                if any(r.subject == subject and r.version == version for r in value.references):
                    out.add(value.id)
        return sorted(out)


def _soft_deleted(value: SchemaValue) -> SchemaValue:
    return SchemaValue(
        value.subject,
        value.version,
        value.id,
        value.schema,
        value.schema_type,
        value.references,
        deleted=True,
    )
