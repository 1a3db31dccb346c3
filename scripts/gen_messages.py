"""Generates riverlog/protocol/messages/<api>.py: version-independent typed views of each API the broker
serves, from kio's per-version classes.

For each API in riverlog.broker.handlers.HANDLERS, every request and response class (kio names them as
Kafka's JSON schemas do) of every served version becomes one slotted, keyword-only dataclass (not
frozen: a frozen one costs a microsecond more per struct, on every request) whose fields are the union
over those versions; a field's type is kio's with kio's phantom types widened to the plain Python type
(i32 -> int, TopicName -> str, i32Timedelta -> datetime.timedelta, ...); its default is kio's (the same
in every version that has it); a field some versions lack and kio gives no default gets Kafka's
implicit one (0, "", empty, null, as Kafka's generated classes hold for an unset field). A name shared
by the request and the response (a few APIs reuse one struct) is one class with both sides' fields.
riverlog.protocol.views converts between these and kio's classes for one version.

    PYTHONPATH=src python scripts/gen_messages.py     # rewrites src/riverlog/protocol/messages/

Re-run it when kio or a handler's version range changes; tests/unit/protocol/test_message_views.py
checks the generated modules against kio.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import subprocess
import sys
import types
import typing
import uuid
from pathlib import Path

import kio
from kio.index import load_payload_module
from kio.static.constants import EntityType

from riverlog.broker.handlers import HANDLERS

OUT = Path(__file__).resolve().parents[1] / "src" / "riverlog" / "protocol" / "messages"
MISSING = dataclasses.MISSING


class Field:
    def __init__(self, name: str) -> None:
        self.name = name
        self.types: list[str] = []
        self.defaults: list[object] = []
        self.everywhere = True

    def add(self, type_text: str, default: object) -> None:
        if type_text not in self.types:
            self.types.append(type_text)
        self.defaults.append(default)


def type_text(t: object, imports: set[str], entities: set[str]) -> str:
    origin = typing.get_origin(t)
    if origin is tuple:
        args = typing.get_args(t)
        return f"tuple[{type_text(args[0], imports, entities)}, ...]"
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(a, imports, entities) for a in typing.get_args(t) if a is not type(None)]
        none = type(None) in typing.get_args(t)
        return " | ".join(parts + (["None"] if none else []))
    if t is type(None):
        return "None"
    assert isinstance(t, type), t
    if dataclasses.is_dataclass(t):
        entities.add(t.__name__)
        return t.__name__
    if issubclass(t, enum.Enum):
        imports.add(f"from {t.__module__} import {t.__name__}")
        return t.__name__
    for base, text in (
        (bool, "bool"),
        (datetime.datetime, "datetime.datetime"),
        (datetime.timedelta, "datetime.timedelta"),
        (str, "str"),
        (bytes, "bytes"),
        (int, "int"),
        (float, "float"),
        (uuid.UUID, "uuid.UUID"),
    ):
        if issubclass(t, base):
            if "." in text:
                imports.add(f"import {text.split('.')[0]}")
            return text
    raise SystemExit(f"no view type for {t!r}")


def default_text(value: object) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, tuple) and not value:
        return "()"
    if isinstance(value, bytes):
        return repr(bytes(value))
    if isinstance(value, datetime.timedelta):
        return f"datetime.timedelta(milliseconds={value // datetime.timedelta(milliseconds=1)})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(
            f"{f.name}={default_text(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"field(default_factory=lambda: {type(value).__name__}({inner}))"
    raise SystemExit(f"no default text for {value!r}")


def implicit_default(annotation: str) -> str | None:
    """What Kafka's generated classes hold in a field the message does not set (its JSON schema's
    implicit default), or None for a nested struct (the handler sets it)."""
    if annotation.endswith("| None"):
        return "None"
    if annotation.startswith("tuple["):
        return "()"
    return {
        "int": "0",
        "float": "0.0",
        "bool": "False",
        "str": '""',
        "bytes": 'b""',
        "ErrorCode": "ErrorCode.none",
        "uuid.UUID": "uuid.UUID(int=0)",
        "datetime.timedelta": "datetime.timedelta(0)",
    }.get(annotation)


def merge_types(texts: list[str]) -> str:
    parts: list[str] = []
    for text in texts:
        for part in text.split(" | "):
            if part not in parts:
                parts.append(part)
    if "None" in parts:
        parts = [p for p in parts if p != "None"] + ["None"]
    return " | ".join(parts)


def classes_of(api_key: int, version: int, entity: EntityType) -> list[type] | None:
    try:
        module = load_payload_module(api_key, version, entity)
    except Exception:  # kio has no such version (the broker's own codec answers it)
        return None
    found = [
        o
        for o in vars(module).values()
        if isinstance(o, type) and dataclasses.is_dataclass(o) and o.__module__ == module.__name__
    ]
    return found


def generate(name: str, api_key: int, low: int, high: int) -> str:
    imports: set[str] = set()
    classes: dict[str, dict[str, Field]] = {}
    seen_in: dict[str, int] = {}
    versions = 0
    for entity in (EntityType.request, EntityType.response):
        for version in range(high, low - 1, -1):  # newest first: its field order wins
            found = classes_of(api_key, version, entity)
            if found is None:
                continue
            versions += 1
            for cls in found:
                hints = typing.get_type_hints(cls)
                fields = classes.setdefault(cls.__name__, {})
                seen_in[cls.__name__] = seen_in.get(cls.__name__, 0) + 1
                for f in dataclasses.fields(cls):
                    if f.name not in fields:
                        fields[f.name] = Field(f.name)
                    default = f.default
                    if default is MISSING and f.default_factory is not MISSING:
                        default = f.default_factory()
                    fields[f.name].add(type_text(hints[f.name], imports, set()), default)
    for cls_name, fields in classes.items():
        for field in fields.values():
            if len(field.defaults) < seen_in[cls_name]:
                field.everywhere = False
    body: list[str] = []
    for cls_name in sorted(classes):
        fields = classes[cls_name]
        body += [
            "",
            "@dataclass(slots=True, kw_only=True)",
            f"class {cls_name}(Message):",
        ]
        if not fields:
            body.append("    pass")
        for field in fields.values():
            annotation = merge_types(field.types)
            defaults = {default_text(d) for d in field.defaults if d is not MISSING}
            has_missing = any(d is MISSING for d in field.defaults)
            if len(defaults) == 1 and not has_missing:
                body.append(f"    {field.name}: {annotation} = {defaults.pop()}")
            elif not field.everywhere and implicit_default(annotation) is not None:
                # absent from some versions: Kafka's implicit default (0, "", empty, null)
                body.append(f"    {field.name}: {annotation} = {implicit_default(annotation)}")
            else:
                body.append(f"    {field.name}: {annotation}")
        body.append("")
    lines = [
        f'"""{name} (key {api_key}), versions {low}-{high}: version-independent views of kio\'s classes.',
        "",
        "Generated by scripts/gen_messages.py from kio " + kio.__version__ + "; do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    std = sorted(i for i in imports if i.startswith("import "))
    third = sorted(i for i in imports if i.startswith("from "))
    body_text = "\n".join(body)
    uses_field = "field(default_factory" in body_text
    lines += [*std, "from dataclasses import dataclass" + (", field" if uses_field else ""), ""]
    lines += [*third, ""] if third else []
    lines += ["from riverlog.protocol.views import Message", ""]
    lines += [f"API_KEY = {api_key}", f"MIN_VERSION = {low}", f"MAX_VERSION = {high}", ""]
    lines += body
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    names = []
    for spec in HANDLERS:
        text = generate(spec.name, spec.API_KEY, spec.MIN_VERSION, spec.MAX_VERSION)
        (OUT / f"{spec.name}.py").write_text(text)
        names.append(spec.name)
    init = [
        '"""Version-independent typed views of every API the broker serves, one module per API',
        "(generated by scripts/gen_messages.py; see riverlog.protocol.views).",
        '"""',
        "",
    ]
    (OUT / "__init__.py").write_text("\n".join(init))
    # ruff's layout, so a re-run on an unchanged kio changes nothing
    subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "format", "-q", str(OUT)], check=True
    )
    print(f"wrote {len(names)} modules to {OUT}")


if __name__ == "__main__":
    main()
