"""The registry's operations, over the replayed state and a store that writes `_schemas` records.

A write computes its record(s) from the state, asks the store to write them, and returns once the
record has been read back and applied (so the caller sees its own write, and recovery replays the very
same records). Writes run one at a time (`write_lock`) and only on the leader; reads run anywhere.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from riverlog.registry import errors
from riverlog.registry.records import (
    KeyType,
    RegistryKey,
    SchemaValue,
    config_value,
    delete_subject_value,
    mode_value,
)
from riverlog.registry.state import RegistryState, StoredSchema
from riverlog.schema.avro import AvroSchema
from riverlog.schema.compatibility import CompatibilityLevel, check
from riverlog.schema.formats import SCHEMA_TYPES, parse_schema
from riverlog.schema.protobuf import ProtobufSchema
from riverlog.schema.types import (
    InvalidSchemaError,
    ParsedSchema,
    SchemaError,
    SchemaReference,
    SchemaType,
)

MODES = ("READWRITE", "READONLY", "IMPORT")
MAX_VERSION = 2**31 - 1
PARSED_CACHE_SIZE = 1000


class Store(Protocol):
    def write(self, key: RegistryKey, value: bytes | None) -> None:
        """Write one record and return once the state has applied it."""

    def sync(self) -> None:
        """Return once the state has applied everything written before the call."""


class SchemaRegistry:
    def __init__(
        self,
        state: RegistryState,
        store: Store,
        default_compatibility: str = "BACKWARD",
        mode_mutability: bool = True,
    ) -> None:
        self.state = state
        self.store = store
        self.default_compatibility = CompatibilityLevel.parse(default_compatibility)
        self.mode_mutability = mode_mutability
        self.write_lock = threading.Lock()
        self._parsed: OrderedDict[int, ParsedSchema] = OrderedDict()
        self._canonical: dict[int, str] = {}
        self._cache_lock = threading.Lock()  # the caches are shared by the HTTP loop and workers

    # -- parsing ------------------------------------------------------------------------------------

    def resolve(self, references: tuple[SchemaReference, ...]) -> dict[str, str]:
        """Each transitive reference's name -> schema text, dependencies first."""
        out: dict[str, str] = {}

        def visit(refs: tuple[SchemaReference, ...], depth: int) -> None:
            if depth > 32:
                raise errors.invalid_schema("Invalid schema: references nest too deeply")
            for ref in refs:
                value = self.state.versions.get(ref.subject, {}).get(ref.version)
                if value is None:
                    raise errors.invalid_schema(
                        f"Invalid schema: reference {ref.name} (subject {ref.subject}, "
                        f"version {ref.version}) not found"
                    )
                visit(value.references, depth + 1)
                out.setdefault(ref.name, value.schema)

        with self.state.lock:
            visit(references, 0)
        return out

    def parse(
        self, schema_type: SchemaType, text: str, references: tuple[SchemaReference, ...]
    ) -> ParsedSchema:
        try:
            return parse_schema(schema_type, text, references, self.resolve(references))
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(str(exc)) from None

    def parsed(self, schema_id: int) -> ParsedSchema:
        """The parsed schema of an id (cached)."""
        with self._cache_lock:
            cached = self._parsed.get(schema_id)
            if cached is not None:
                self._parsed.move_to_end(schema_id)
                return cached
        with self.state.lock:
            stored = self.state.by_id.get(schema_id)
        if stored is None:
            raise errors.schema_not_found(schema_id)
        parsed = self.parse(stored.schema_type, stored.schema, stored.references)
        with self._cache_lock:
            self._parsed[schema_id] = parsed
            self._canonical[schema_id] = parsed.canonical()
            if len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)
        return parsed

    def canonical(self, schema_id: int) -> str:
        """Canonical text of an id, parsed on first use ("" for one that no longer parses)."""
        known = self._canonical.get(schema_id)
        if known is None:
            try:
                known = self.parsed(schema_id).canonical()
            except errors.RegistryError:
                known = self._canonical[schema_id] = ""
        return known

    def parse_request(self, body: Mapping[str, Any], normalize: bool = False) -> ParsedSchema:
        """A request body's schema (`schema`, `schemaType`, `references`), parsed; normalized
        (`?normalize=true`) when asked."""
        parsed = self._parse_request(body)
        if not normalize:
            return parsed
        # Confluent: references sorted by (subject, version), duplicates dropped
        refs = tuple(sorted(dict.fromkeys(parsed.references), key=lambda r: (r.subject, r.version)))
        if parsed.normalized_text() != parsed.text or refs != parsed.references:
            return self.parse(parsed.schema_type, parsed.normalized_text(), refs)
        return parsed

    def _matches(self, value: SchemaValue, parsed: ParsedSchema, normalize: bool) -> bool:
        if _same(value, parsed, self.canonical):
            return True
        if value.schema_type != parsed.schema_type:
            return False
        resolved = not parsed.references and bool(value.references)
        if not normalize and not (resolved and value.schema_type is SchemaType.AVRO):
            return False
        try:
            stored = self.parsed(value.id)
        except errors.RegistryError:
            return False
        if resolved and isinstance(stored, AvroSchema):
            # a schema sent with its references resolved (Confluent's canLookup does the same)
            return stored.resolved_normalized_text() == parsed.normalized_text()
        if set(value.references) != set(parsed.references):
            return False
        return stored.normalized_text() == parsed.normalized_text()

    def _parse_request(self, body: Mapping[str, Any]) -> ParsedSchema:
        text = body.get("schema")
        if not isinstance(text, str) or not text.strip():
            raise errors.invalid_schema("Empty schema")
        try:
            schema_type = SchemaType.parse(body.get("schemaType"))
            refs = tuple(SchemaReference.from_json(r) for r in body.get("references") or ())
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(str(exc)) from None
        return self.parse(schema_type, text, refs)

    # -- settings -----------------------------------------------------------------------------------

    def compatibility(self, subject: str | None) -> CompatibilityLevel:
        with self.state.lock:
            level = self.state.config.get(subject) if subject is not None else None
            level = level or self.state.config.get(None)
        return CompatibilityLevel.parse(level) if level else self.default_compatibility

    def mode(self, subject: str | None) -> str:
        with self.state.lock:
            mode = self.state.mode.get(subject) if subject is not None else None
            return mode or self.state.mode.get(None) or "READWRITE"

    def get_config(self, subject: str | None, default_to_global: bool = False) -> dict[str, Any]:
        if subject is not None and not default_to_global:
            with self.state.lock:
                level = self.state.config.get(subject)
            if level is None:
                raise errors.subject_config_not_found(subject)
            return {"compatibilityLevel": level}
        return {"compatibilityLevel": self.compatibility(subject).value}

    def set_config(self, subject: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        raw = body.get("compatibility", body.get("compatibilityLevel"))
        try:
            level = CompatibilityLevel.parse(str(raw))
        except SchemaError:
            raise errors.invalid_compatibility_level(raw) from None
        self._write(RegistryKey(KeyType.CONFIG, subject), config_value(level.value))
        return {"compatibility": level.value}

    def delete_config(self, subject: str | None) -> dict[str, Any]:
        previous = self.get_config(subject, default_to_global=subject is None)
        self._write(RegistryKey(KeyType.CONFIG, subject), None)
        return previous

    def get_mode(self, subject: str | None, default_to_global: bool = False) -> dict[str, Any]:
        if subject is not None and not default_to_global:
            with self.state.lock:
                mode = self.state.mode.get(subject)
            if mode is None:
                raise errors.subject_mode_not_found(subject)
            return {"mode": mode}
        return {"mode": self.mode(subject)}

    def set_mode(self, subject: str | None, body: Mapping[str, Any], force: bool) -> dict[str, Any]:
        if not self.mode_mutability:
            raise errors.not_permitted("Mode changes are not allowed")
        mode = str(body.get("mode", "")).upper()
        if mode not in MODES:
            raise errors.invalid_mode(body.get("mode"))
        if mode == "IMPORT" and not force:
            with self.state.lock:
                subjects = [subject] if subject is not None else self.state.subjects()
                if any(self.state.subject_versions(s) for s in subjects if s is not None):
                    raise errors.not_permitted(
                        "Cannot import since found existing subjects (use force=true)"
                    )
        self._write(RegistryKey(KeyType.MODE, subject), mode_value(mode))
        return {"mode": mode}

    def delete_mode(self, subject: str) -> dict[str, Any]:
        if not self.mode_mutability:
            raise errors.not_permitted("Mode changes are not allowed")
        previous = self.get_mode(subject)
        self._write(RegistryKey(KeyType.MODE, subject), None)
        return previous

    # -- schemas by id ------------------------------------------------------------------------------

    def schema_by_id(
        self, schema_id: int, fmt: str | None = None, subject: str | None = None
    ) -> dict[str, Any]:
        """`subject` names the context to look the id up in (Confluent's `?subject=`): ids are global
        in the default context, the only one served, so a subject qualified with another context
        (`:.ctx:name`) finds nothing."""
        if subject and _context(subject) != ".":
            raise errors.schema_not_found(schema_id)
        with self.state.lock:
            stored = self.state.by_id.get(schema_id)
        if stored is None:
            raise errors.schema_not_found(schema_id)
        body = schema_body(stored, self._formatted(schema_id, stored, fmt))
        if subject:
            # Confluent answers the subject's version holding the id (when the subject has none,
            # the first subject-version that does), with `subject` and `version` in the body
            holders = self.versions_of_id(schema_id, deleted=True)
            mine = [h for h in holders if h["subject"] == subject]
            if mine or holders:
                body = {**(mine or holders)[0], **body}
        return body

    def _formatted(self, schema_id: int, stored: StoredSchema, fmt: str | None) -> str:
        if fmt == "serialized" and stored.schema_type is SchemaType.PROTOBUF:
            parsed = self.parsed(schema_id)
            assert isinstance(parsed, ProtobufSchema)
            return parsed.serialized()
        return stored.schema

    def subjects_of_id(self, schema_id: int, deleted: bool = False) -> list[str]:
        return sorted({v["subject"] for v in self.versions_of_id(schema_id, deleted)})

    def versions_of_id(self, schema_id: int, deleted: bool = False) -> list[dict[str, Any]]:
        with self.state.lock:
            if schema_id not in self.state.by_id:
                raise errors.schema_not_found(schema_id)
            return [
                {"subject": v.subject, "version": v.version}
                for s in sorted(self.state.versions)
                for v in self.state.subject_versions(s, deleted)
                if v.id == schema_id
            ]

    @staticmethod
    def schema_types() -> list[str]:
        return [t.value for t in SCHEMA_TYPES]

    # -- subjects and versions ----------------------------------------------------------------------

    def subjects(
        self, deleted: bool = False, prefix: str = "", deleted_only: bool = False
    ) -> list[str]:
        with self.state.lock:
            names = [
                s for s in self.state.subjects(deleted or deleted_only) if s.startswith(prefix)
            ]
            if deleted_only:
                names = [s for s in names if not self.state.subject_versions(s)]
            return names

    def versions(
        self, subject: str, deleted: bool = False, deleted_only: bool = False
    ) -> list[int]:
        with self.state.lock:
            found = self.state.subject_versions(subject, deleted or deleted_only)
        if not found:
            raise errors.subject_not_found(subject)
        return [v.version for v in found if v.deleted or not deleted_only]

    def schemas(
        self,
        prefix: str = "",
        deleted: bool = False,
        latest_only: bool = False,
        offset: int = 0,
        limit: int = -1,
    ) -> list[dict[str, Any]]:
        """GET /schemas: every version of the subjects starting with `prefix` (the latest of each
        only when `latest_only`), by subject then version, `offset` skipped, at most `limit` (-1 or 0:
        no limit)."""
        with self.state.lock:
            values = []
            for subject in self.state.subjects(deleted):
                if subject.startswith(prefix):
                    found = self.state.subject_versions(subject, deleted)
                    values.extend(found[-1:] if latest_only else found)
        values = values[max(offset, 0) :]
        if limit > 0:
            values = values[:limit]
        return [version_body(v, v.schema) for v in values]

    def version(self, subject: str, version: str, deleted: bool = False) -> SchemaValue:
        """One version ("latest"/-1 for the newest live one)."""
        number = parse_version(version)
        with self.state.lock:
            every = self.state.subject_versions(subject, deleted=True)
            if not every:
                raise errors.subject_not_found(subject)
            live = [v for v in every if deleted or not v.deleted]
            if number == -1:
                if not live:
                    raise errors.subject_not_found(subject)
                return live[-1]
            for value in live:
                if value.version == number:
                    return value
        raise errors.version_not_found(number)

    def version_body(
        self, subject: str, version: str, deleted: bool = False, fmt: str | None = None
    ) -> dict[str, Any]:
        value = self.version(subject, version, deleted)
        stored = StoredSchema(value.schema_type, value.schema, value.references)
        return version_body(value, self._formatted(value.id, stored, fmt))

    def referenced_by(self, subject: str, version: str) -> list[int]:
        value = self.version(subject, version, deleted=True)
        with self.state.lock:
            return self.state.referenced_by(subject, value.version)

    def lookup(
        self, subject: str, body: Mapping[str, Any], deleted: bool = False, normalize: bool = False
    ) -> dict[str, Any]:
        """POST /subjects/{s}: the version of `subject` holding this schema."""
        with self.state.lock:
            known = bool(self.state.subject_versions(subject, deleted=True))
        if not known:
            raise errors.subject_not_found(subject)
        parsed = self.parse_request(body, normalize)
        with self.state.lock:
            for value in reversed(self.state.subject_versions(subject, deleted)):
                if self._matches(value, parsed, normalize):
                    return version_body(value, value.schema)
        raise errors.schema_not_found()

    def test_compatibility(
        self, subject: str, version: str | None, body: Mapping[str, Any]
    ) -> list[str]:
        """Why the body's schema may not be registered after `version` (all versions when None)."""
        parsed = self.parse_request(body)
        level = self.compatibility(subject)
        with self.state.lock:
            live = self.state.subject_versions(subject)
        if version is None:
            previous = live
        else:
            previous = [self.version(subject, version)]
            level = _non_transitive(level)
        return check(level, parsed, [self.parsed(v.id) for v in previous])

    # -- writes -------------------------------------------------------------------------------------

    def register(
        self, subject: str, body: Mapping[str, Any], normalize: bool = False
    ) -> dict[str, Any]:
        """POST /subjects/{s}/versions: the id of the schema under `subject` (registering it if new)."""
        mode = self.mode(subject)
        wanted_id, wanted_version = body.get("id"), body.get("version")
        if wanted_id is not None:
            try:
                wanted_id = int(wanted_id)
            except (TypeError, ValueError):
                raise errors.RegistryError(400, 400, f"Invalid id {wanted_id!r}") from None
            if wanted_id < 0:
                wanted_id = None  # Confluent: an id of -1 is no id
        # Confluent's checkRegisterMode: read-only refuses; an id needs IMPORT, no id READWRITE
        if mode == "READONLY":
            raise errors.not_permitted(f"Subject {subject} in context . is in read-only mode")
        if wanted_id is not None and mode != "IMPORT":
            raise errors.not_permitted(f"Subject {subject} in context . is not in import mode")
        if wanted_id is None and mode != "READWRITE":
            raise errors.not_permitted(f"Subject {subject} in context . is not in read-write mode")
        normalize = normalize and mode != "IMPORT"  # IMPORT stores schemas verbatim (Confluent)
        parsed = self.parse_request(body, normalize)
        if isinstance(parsed, ProtobufSchema):
            parsed = parsed.as_text()  # stored and served as .proto text, as Confluent does
        with self.write_lock:
            self.store.sync()
            with self.state.lock:
                live = self.state.subject_versions(subject)
                for value in reversed(live):
                    if self._matches(value, parsed, normalize):
                        return {"id": value.id}
                stored = StoredSchema(parsed.schema_type, parsed.text, parsed.references)
                existing = self.state.find_id(stored, self.canonical, parsed.canonical())
                # Versions follow the kept ones (soft-deleted included): the same on every replay.
                kept = self.state.subject_versions(subject, deleted=True)
                next_version = max((v.version for v in kept), default=0) + 1
                next_id = self.state.max_id + 1
            if mode == "IMPORT" and wanted_id is not None:
                schema_id = self._import_id(int(wanted_id), parsed)
                version = int(wanted_version) if wanted_version is not None else next_version
            else:
                details = check(
                    self.compatibility(subject), parsed, [self.parsed(v.id) for v in live]
                )
                if details:
                    raise errors.incompatible(subject, details)
                schema_id = existing if existing is not None else next_id
                version = next_version
            value = SchemaValue(
                subject, version, schema_id, parsed.text, parsed.schema_type, parsed.references
            )
            self.store.write(RegistryKey(KeyType.SCHEMA, subject, version), value.encode())
            return {"id": schema_id}

    def _import_id(self, schema_id: int, parsed: ParsedSchema) -> int:
        with self.state.lock:
            taken = schema_id in self.state.by_id
        if taken and self.canonical(schema_id) != parsed.canonical():
            raise errors.not_permitted(
                f"Overwrite new schema with id {schema_id} is not permitted."
            )
        return schema_id

    def delete_version(self, subject: str, version: str, permanent: bool) -> int:
        self._check_writable(subject)
        with self.write_lock:
            self.store.sync()
            value = self.version(subject, version, deleted=True)
            if version in ("latest", "-1") and value.deleted and not permanent:
                raise errors.version_not_found(version)
            with self.state.lock:
                if self.state.referenced_by(subject, value.version):
                    raise errors.reference_exists(subject, value.version)
            key = RegistryKey(KeyType.SCHEMA, subject, value.version)
            if permanent:
                if not value.deleted:
                    raise errors.version_not_soft_deleted(subject, value.version)
                self.store.write(key, None)
            else:
                if value.deleted:
                    raise errors.version_soft_deleted(subject, value.version)
                deleted = SchemaValue(
                    value.subject,
                    value.version,
                    value.id,
                    value.schema,
                    value.schema_type,
                    value.references,
                    deleted=True,
                )
                self.store.write(key, deleted.encode())
            return value.version

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        self._check_writable(subject)
        with self.write_lock:
            self.store.sync()
            with self.state.lock:
                every = self.state.subject_versions(subject, deleted=True)
                live = [v for v in every if not v.deleted]
                referenced = [v for v in every if self.state.referenced_by(subject, v.version)]
            if not every:
                raise errors.subject_not_found(subject)
            if referenced:
                raise errors.reference_exists(subject, referenced[0].version)
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                for value in every:
                    self.store.write(RegistryKey(KeyType.SCHEMA, subject, value.version), None)
                return [v.version for v in every]
            if not live:
                raise errors.subject_soft_deleted(subject)
            latest = live[-1].version
            self.store.write(
                RegistryKey(KeyType.DELETE_SUBJECT, subject),
                delete_subject_value(subject, latest),
            )
            return [v.version for v in live]

    def _check_writable(self, subject: str) -> None:
        if self.mode(subject) == "READONLY":
            raise errors.not_permitted(f"Subject {subject} in context . is in read-only mode")

    def _write(self, key: RegistryKey, value: bytes | None) -> None:
        with self.write_lock:
            self.store.write(key, value)


def parse_version(version: str) -> int:
    """ "latest" -> -1; a number in [1, 2^31-1] (or -1); anything else is 42202."""
    if version == "latest":
        return -1
    try:
        number = int(version)
    except ValueError:
        raise errors.invalid_version(version) from None
    if number == -1 or 1 <= number <= MAX_VERSION:
        return number
    raise errors.invalid_version(version)


def schema_body(stored: StoredSchema, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if stored.schema_type is not SchemaType.AVRO:
        body["schemaType"] = stored.schema_type.value
    if stored.references:
        body["references"] = [r.to_json() for r in stored.references]
    body["schema"] = text
    return body


def version_body(value: SchemaValue, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": value.subject, "version": value.version, "id": value.id}
    stored = StoredSchema(value.schema_type, value.schema, value.references)
    body.update(schema_body(stored, text))
    return body


def _context(subject: str) -> str:
    """The context of a (possibly context-qualified, `:.ctx:name`) subject; "." is the default."""
    if not subject.startswith(":.") or ":" not in subject[2:]:
        return "."
    name = subject[2:].split(":", 1)[0]
    return "." + name if name else "."


def _same(value: SchemaValue, parsed: ParsedSchema, canonical_of: Callable[[int], str]) -> bool:
    return (
        value.schema_type == parsed.schema_type
        and value.references == parsed.references
        and canonical_of(value.id) == parsed.canonical()
    )


def _non_transitive(level: CompatibilityLevel) -> CompatibilityLevel:
    return CompatibilityLevel(level.value.removesuffix("_TRANSITIVE"))
