"""JSON Schema: validated with `jsonschema` (the draft the schema names, draft 7 when it names none), and
Confluent's documented JSON Schema compatibility rules.

Confluent compares an *original* and an *update* schema: for BACKWARD the update is the new schema and the
original the registered one; FORWARD swaps them. In reader/writer terms the update is the reader. The rules
checked here (Confluent's difference types; anything not listed is compatible):

- types: a type removed from `type` (narrowed), or changed, is incompatible; `integer` -> `number` widens.
- `enum`: a value removed is incompatible, values added are compatible; `const` added or changed is not.
- string/number/array/object limits (`maxLength`, `minLength`, `pattern`, `maximum`, `minimum`,
  `exclusiveMaximum`, `exclusiveMinimum`, `multipleOf`, `maxItems`, `minItems`, `uniqueItems`,
  `maxProperties`, `minProperties`): added or tightened is incompatible, removed or relaxed compatible.
- objects: a property added to an *open* content model (additionalProperties absent/true) is incompatible
  unless the original's additional-properties schema accepts it; a property removed from a *closed* model
  is incompatible; a required property added is incompatible unless it has a default; `required` grown is
  incompatible; `additionalProperties` closed (true -> false) is incompatible, opened is compatible.
- `items` and each property's schema are compared recursively; so are `oneOf`/`anyOf`/`allOf` branches,
  where fewer `oneOf`/`anyOf` branches (narrowed) or more `allOf` branches is incompatible.
- `$ref` to `#/definitions/..`, `#/$defs/..` or a referenced schema (by its reference name) is followed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from riverlog.schema.types import InvalidSchemaError, ParsedSchema, SchemaReference, SchemaType

# limit keyword -> True when a larger value relaxes it
_LIMITS = {
    "maxLength": True,
    "minLength": False,
    "maximum": True,
    "minimum": False,
    "exclusiveMaximum": True,
    "exclusiveMinimum": False,
    "maxItems": True,
    "minItems": False,
    "maxProperties": True,
    "minProperties": False,
}


class JsonSchema(ParsedSchema):
    """One JSON Schema document; `resolved` maps reference names (URLs) to their schema texts."""

    schema_type = SchemaType.JSON

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
        if not isinstance(obj, (dict, bool)):
            raise InvalidSchemaError("Invalid schema: a JSON Schema is an object or a boolean")
        super().__init__(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), references)
        self.obj: Any = obj
        self.resolved: dict[str, Any] = {}
        try:
            for name, ref_text in (resolved or {}).items():
                self.resolved[name] = json.loads(ref_text)
            cls = jsonschema.validators.validator_for(obj, default=jsonschema.Draft7Validator)
            cls.check_schema(obj)
        except (jsonschema.exceptions.SchemaError, ValueError) as exc:
            message = getattr(exc, "message", str(exc))
            raise InvalidSchemaError(f"Invalid schema: {message}") from None
        self._validator_cls = cls
        self._canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))

    def canonical(self) -> str:
        return self._canonical

    def normalized_text(self) -> str:
        """`?normalize=true`, as Confluent's `JsonSchema.normalize()`: the document re-read with every
        object's keys sorted (Jackson's sorting node factory), written compactly."""
        return json.dumps(self.obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def record_name(self) -> str | None:
        if isinstance(self.obj, dict):
            title = self.obj.get("title")
            return str(title) if title else None
        return None

    def validator(self) -> Any:
        """A jsonschema validator that resolves this schema's references by name."""
        resources = [
            (name, Resource.from_contents(doc, default_specification=DRAFT7))
            for name, doc in self.resolved.items()
        ]
        registry: Registry[Any] = Registry().with_resources(resources)
        return self._validator_cls(self.obj, registry=registry)

    def read_errors(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, JsonSchema):
            return [f"Incompatible schema type: {writer.schema_type.value} cannot be read as JSON"]
        diff = _Diff(original_root=writer, update_root=self)
        diff.compare(writer.obj, self.obj, "#")
        return diff.errors


class _Diff:
    """Walks an original (writer) and an update (reader) schema side by side, collecting incompatibilities."""

    def __init__(self, original_root: JsonSchema, update_root: JsonSchema) -> None:
        self.roots = (original_root, update_root)
        self.errors: list[str] = []
        self._seen: set[tuple[int, int]] = set()

    def fail(self, kind: str, path: str, detail: str = "") -> None:
        self.errors.append(
            f"{{errorType:'{kind}', description:'{detail}', location:'{path}'}}"
            if detail
            else f"{{errorType:'{kind}', location:'{path}'}}"
        )

    def deref(self, schema: Any, side: int) -> Any:
        """Follow `$ref` chains to local definitions or referenced documents."""
        root = self.roots[side]
        for _ in range(32):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema
            ref = str(schema["$ref"])
            doc: Any = root.obj
            if not ref.startswith("#"):
                base, _, ref = ref.partition("#")
                ref = "#" + ref
                doc = root.resolved.get(base, {})
            target: Any = doc
            for part in [p for p in ref[1:].split("/") if p]:
                target = target.get(part, {}) if isinstance(target, dict) else {}
            schema = target
        return schema

    def compare(self, original: Any, update: Any, path: str) -> None:
        original = self.deref(original, 0)
        update = self.deref(update, 1)
        key = (id(original), id(update))
        if key in self._seen:
            return
        self._seen.add(key)
        # True/{} accept anything; False accepts nothing.
        if update is True or update == {}:
            return
        if original is False:
            return
        if original is True or original == {}:
            self.fail("TYPE_NARROWED", path, "the original schema accepted anything")
            return
        if update is False:
            self.fail("TYPE_NARROWED", path, "the update accepts nothing")
            return
        self.compare_types(original, update, path)
        self.compare_enum(original, update, path)
        self.compare_limits(original, update, path)
        self.compare_object(original, update, path)
        self.compare_array(original, update, path)
        self.compare_combined(original, update, path)

    def compare_types(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        if "type" not in update:
            return
        new = _types(update.get("type"))
        old = _types(original.get("type")) if "type" in original else None
        if old is None:
            self.fail("TYPE_NARROWED", path, f"type {sorted(new)} added")
            return
        if "number" in new:
            new = new | {"integer"}
        missing = old - new
        if missing:
            kind = "TYPE_CHANGED" if not (old & new) else "TYPE_NARROWED"
            self.fail(kind, path, f"type {sorted(old)} became {sorted(_types(update['type']))}")

    def compare_enum(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        if "enum" in update:
            old = original.get("enum")
            if old is None or any(v not in update["enum"] for v in old):
                self.fail("ENUM_ARRAY_NARROWED" if old else "ENUM_ARRAY_CHANGED", path + "/enum")
        if "const" in update and original.get("const", object()) != update["const"]:
            self.fail("CONST_CHANGED", path + "/const")
        if "pattern" in update and original.get("pattern") != update["pattern"]:
            self.fail("PATTERN_CHANGED" if "pattern" in original else "PATTERN_ADDED", path)
        if "multipleOf" in update:
            old_m, new_m = original.get("multipleOf"), update["multipleOf"]
            if old_m is None or (old_m % new_m != 0):
                self.fail("MULTIPLE_OF_CHANGED", path)
        if update.get("uniqueItems") is True and original.get("uniqueItems") is not True:
            self.fail("UNIQUE_ITEMS_ADDED", path)

    def compare_limits(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        for keyword, larger_relaxes in _LIMITS.items():
            if keyword not in update or isinstance(update[keyword], bool):
                continue
            new = update[keyword]
            old = original.get(keyword)
            name = _snake(keyword)
            if old is None or isinstance(old, bool):
                self.fail(f"{name}_ADDED", path, f"{keyword} {new} added")
            elif (new < old) if larger_relaxes else (new > old):
                change = "DECREASED" if new < old else "INCREASED"
                self.fail(f"{name}_{change}", path, f"{keyword} {old} -> {new}")

    def compare_object(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = original.get("properties", {}) or {}
        new_props: dict[str, Any] = update.get("properties", {}) or {}
        old_extra = original.get("additionalProperties", True)
        new_extra = update.get("additionalProperties", True)
        old_open = old_extra is not False
        new_required = set(update.get("required", []) or [])
        old_required = set(original.get("required", []) or [])
        for name, schema in new_props.items():
            where = f"{path}/properties/{name}"
            if name in old_props:
                self.compare(old_props[name], schema, where)
                continue
            if name in new_required and name not in old_required:
                has_default = isinstance(schema, dict) and "default" in schema
                if not has_default:
                    self.fail("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", where, name)
                continue
            if old_open:
                if isinstance(old_extra, dict) and old_extra:
                    self.compare(old_extra, schema, where)
                elif not _accepts_anything(schema):
                    self.fail("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", where, name)
        for name, schema in old_props.items():
            if name in new_props:
                continue
            where = f"{path}/properties/{name}"
            if new_extra is False:
                self.fail("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", where, name)
            elif isinstance(new_extra, dict) and new_extra:
                self.compare(schema, new_extra, where)
        for name in sorted(new_required - old_required):
            if name in old_props:
                self.fail("REQUIRED_ATTRIBUTE_ADDED", f"{path}/required", name)
        if new_extra is False and old_extra is not False:
            self.fail("ADDITIONAL_PROPERTIES_REMOVED", path)
        elif isinstance(new_extra, dict) and isinstance(old_extra, dict):
            self.compare(old_extra, new_extra, path + "/additionalProperties")
        elif isinstance(new_extra, dict) and new_extra and old_extra is True:
            self.fail("ADDITIONAL_PROPERTIES_NARROWED", path)

    def compare_array(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        new_items = update.get("items")
        if new_items is None:
            return
        old_items = original.get("items", True)
        if isinstance(new_items, list) or isinstance(old_items, list):
            olds = old_items if isinstance(old_items, list) else []
            news = new_items if isinstance(new_items, list) else []
            for i, schema in enumerate(news):
                self.compare(olds[i] if i < len(olds) else True, schema, f"{path}/items/{i}")
            return
        self.compare(old_items, new_items, path + "/items")

    def compare_combined(self, original: dict[str, Any], update: dict[str, Any], path: str) -> None:
        for keyword in ("oneOf", "anyOf", "allOf"):
            if keyword not in update:
                continue
            news: list[Any] = update[keyword]
            olds: list[Any] | None = original.get(keyword)
            where = f"{path}/{keyword}"
            if olds is None:
                # A schema that became a union: the original must fit one branch (sum type extended).
                if keyword == "allOf" or not any(self._fits(original, b, where) for b in news):
                    self.fail("COMBINED_TYPE_SUBSCHEMAS_CHANGED", where)
                continue
            if keyword == "allOf" and len(news) > len(olds):
                self.fail("PRODUCT_TYPE_EXTENDED", where)
            if keyword != "allOf" and len(news) < len(olds):
                self.fail("SUM_TYPE_NARROWED", where)
            for i, old in enumerate(olds):
                if keyword == "allOf":
                    if i < len(news):
                        self.compare(old, news[i], f"{where}/{i}")
                elif not any(self._fits(old, new, f"{where}/{i}") for new in news):
                    self.fail("COMBINED_TYPE_SUBSCHEMAS_CHANGED", f"{where}/{i}")

    def _fits(self, original: Any, update: Any, path: str) -> bool:
        probe = _Diff(*self.roots)
        probe.compare(original, update, path)
        return not probe.errors


def _types(value: Any) -> set[str]:
    if value is None:
        return set()
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


def _accepts_anything(schema: Any) -> bool:
    return schema is True or schema == {}


def _snake(keyword: str) -> str:
    return "".join("_" + c if c.isupper() else c for c in keyword).upper()
