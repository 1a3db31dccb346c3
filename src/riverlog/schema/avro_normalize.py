"""Avro's `?normalize=true` form, as Confluent's registry computes it.

Confluent normalizes in two steps (`AvroSchemaUtils.toNormalizedString`, then the canonical string of
the schema parsed back): a rewrite adapted from Avro's `SchemaNormalization` that keeps `doc`,
`aliases`, `default`, `order`, logical types and every other property (sorted by name, nested JSON
objects in property values and defaults sorted too), and Apache Avro (Java)'s `Schema.toString`, which
fixes the attribute order and writes names relative to the enclosing namespace. This module produces
the result of both in one walk over the schema's JSON:

- named types: `type`, `name` (short), `namespace` (when it differs from the enclosing one), `doc`
  (records/enums/fixed: when non-empty), then `fields` / `symbols` + enum `default` / `size`, then the
  other properties (logical type first when Avro knows it, then by name), then `aliases` (sorted);
  `error` is written as `record`; a name already written (or a reference's top-level type) is written
  as its name, qualified only when its namespace differs from the enclosing one.
- fields: `name`, `type`, `doc`, `default` (record defaults with sorted keys, float/double defaults as
  floats, a union's default against its first branch), `order` unless ascending, `aliases` (sorted),
  then the other properties by name.
- `{"type": "int"}` without properties is `"int"`; with properties it stays an object.

`inline` (the reference definitions by full name) writes referenced types in full at first use instead,
which is Java's `Schema.toString()` without references (a schema sent with its references resolved).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = ("record", "error", "enum", "fixed")
_SCHEMA_RESERVED = frozenset(
    ("doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases")
)
_ENUM_RESERVED = _SCHEMA_RESERVED | {"default"}
_FIELD_RESERVED = frozenset(("default", "doc", "name", "order", "type", "aliases"))
# logical type -> the Avro types Java's LogicalTypes accept it on
_LOGICAL = {
    "decimal": ("bytes", "fixed"),
    "uuid": ("string", "fixed"),
    "date": ("int",),
    "time-millis": ("int",),
    "time-micros": ("long",),
    "timestamp-millis": ("long",),
    "timestamp-micros": ("long",),
    "timestamp-nanos": ("long",),
    "local-timestamp-millis": ("long",),
    "local-timestamp-micros": ("long",),
    "local-timestamp-nanos": ("long",),
}


def canonical_avro(obj: Any, references: Mapping[str, Any] | None = None) -> str:
    """Confluent's `canonicalString()` without normalization: Java's `Schema.toString` of the schema
    as sent (what Confluent's registry stores for every Avro registration) — the attribute order and
    relative names above, properties, aliases and defaults as they were written."""
    return normalized_avro(obj, references, normalize=False)


def normalized_avro(
    obj: Any,
    references: Mapping[str, Any] | None = None,
    inline: bool = False,
    normalize: bool = True,
) -> str:
    """The normalized text of a schema's JSON; `references` are the referenced schemas' JSON
    objects (by reference name), written as names — or in full at first use when `inline`."""
    writer = _Writer(normalize)
    for ref in (references or {}).values():
        full = _full_name(ref, None)
        if full is None:
            continue
        if inline:
            writer.pending[full] = ref
        else:
            writer.defined.add(full)
    return _dumps(writer.schema(obj, None, None))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _full_name(obj: Any, namespace: str | None) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in _NAMED or "name" not in obj:
        return None
    name = str(obj["name"])
    if "." in name:
        return name
    space = obj.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _split(full: str) -> tuple[str | None, str]:
    space, _, name = full.rpartition(".")
    return (space or None), name


def _qualified(full: str, out_space: str | None) -> str:
    space, name = _split(full)
    return name if space is None or space == out_space else full


def _sorted_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


class _Writer:
    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize
        self.defined: set[str] = set()
        self.pending: dict[str, Any] = {}

    def schema(self, obj: Any, space: str | None, out_space: str | None) -> Any:
        """One schema; `space` resolves short names (the parse namespace), `out_space` is the
        namespace names are written relative to."""
        if isinstance(obj, list):
            return [self.schema(branch, space, out_space) for branch in obj]
        if isinstance(obj, str):
            return self.reference(obj, space, out_space)
        if not isinstance(obj, dict):
            return obj
        kind = obj.get("type")
        if isinstance(kind, (dict, list)):
            return self.schema(kind, space, out_space)
        kind = str(kind)
        if kind in _NAMED:
            return self.named(obj, kind, space, out_space)
        if kind in ("array", "map"):
            child = "items" if kind == "array" else "values"
            out: dict[str, Any] = {
                "type": kind,
                child: self.schema(obj.get(child), space, out_space),
            }
            out.update(self.props(obj, _SCHEMA_RESERVED, kind))
            return out
        if kind not in PRIMITIVES:
            return self.reference(kind, space, out_space)
        props = self.props(obj, _SCHEMA_RESERVED, kind)
        return {"type": kind, **props} if props else kind

    def reference(self, name: str, space: str | None, out_space: str | None) -> Any:
        if name in PRIMITIVES:
            return name
        full = name if "." in name or not space else f"{space}.{name}"
        if full not in self.defined and name in self.defined:
            full = name  # a name in the null namespace, used from inside a namespace
        if full not in self.defined and full in self.pending:
            return self.schema(self.pending.pop(full), None, out_space)
        return _qualified(full, out_space)

    def named(
        self, obj: dict[str, Any], kind: str, space: str | None, out_space: str | None
    ) -> Any:
        full = _full_name(obj, space) or ""
        if full in self.defined:
            return _qualified(full, out_space)
        self.defined.add(full)
        self.pending.pop(full, None)
        own_space, short = _split(full)
        out: dict[str, Any] = {"type": "record" if kind == "error" else kind, "name": short}
        if own_space is not None and own_space != out_space:
            out["namespace"] = own_space
        elif own_space is None and out_space is not None:
            out["namespace"] = ""
        doc = obj.get("doc")
        if isinstance(doc, str) and (doc or not self.normalize):  # normalizing drops an empty doc
            out["doc"] = doc
        if kind in ("record", "error"):
            out["fields"] = [self.field(f, own_space) for f in obj.get("fields", [])]
            reserved = _SCHEMA_RESERVED
        elif kind == "enum":
            out["symbols"] = list(obj.get("symbols", []))
            if obj.get("default") is not None:
                out["default"] = obj["default"]
            reserved = _ENUM_RESERVED
        else:
            out["size"] = obj.get("size")
            reserved = _SCHEMA_RESERVED
        out.update(self.props(obj, reserved, kind))
        aliases = [
            a if "." in str(a) or not own_space else f"{own_space}.{a}"
            for a in dict.fromkeys(obj.get("aliases") or [])
        ]
        if self.normalize:
            aliases.sort()
        if aliases:
            out["aliases"] = [_qualified(str(a), own_space) for a in aliases]
        return out

    def field(self, field: Any, space: str | None) -> Any:
        if not isinstance(field, dict):
            return field
        ftype = field.get("type")
        out: dict[str, Any] = {"name": field.get("name"), "type": self.schema(ftype, space, space)}
        if field.get("doc") is not None:
            out["doc"] = field["doc"]
        if "default" in field:
            out["default"] = (
                _default(field["default"], ftype) if self.normalize else field["default"]
            )
        order = field.get("order", "ascending")
        if order != "ascending":
            out["order"] = order
        if field.get("aliases"):
            aliases = [str(a) for a in dict.fromkeys(field["aliases"])]
            out["aliases"] = sorted(aliases) if self.normalize else aliases
        if self.normalize:
            out.update(
                {k: _sorted_json(field[k]) for k in sorted(field) if k not in _FIELD_RESERVED}
            )
        else:
            out.update({k: v for k, v in field.items() if k not in _FIELD_RESERVED})
        return out

    def props(self, obj: dict[str, Any], reserved: frozenset[str], kind: str) -> dict[str, Any]:
        """Java keeps every non-reserved attribute as a property, in the order written; normalizing
        puts the logical type (with its precision/scale) first when Avro knows it on this type, then
        the rest by name."""
        if not self.normalize:
            return {k: v for k, v in obj.items() if k not in reserved}
        out: dict[str, Any] = {}
        logical = obj.get("logicalType")
        if isinstance(logical, str) and kind in _LOGICAL.get(logical, ()):
            out["logicalType"] = logical
            if logical == "decimal":
                for key in ("precision", "scale"):
                    if key in obj and not (key == "scale" and obj[key] == 0):
                        out[key] = obj[key]
        for key in sorted(obj):
            if key not in reserved and key not in out:
                out[key] = _sorted_json(obj[key])
        return out


def _default(value: Any, ftype: Any) -> Any:
    """A field default as Java's `Field.defaultVal()` gives it back: read against the field's type
    (a union's first branch), written with sorted object keys."""
    while isinstance(ftype, list) and ftype:
        ftype = ftype[0]
    if isinstance(ftype, dict):
        ftype = ftype.get("type")
    if ftype in ("float", "double") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return _sorted_json(value)
