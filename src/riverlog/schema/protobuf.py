"""Protobuf schemas: `.proto` text compiled by protoc (grpcio-tools, in-process) or a base64
`FileDescriptorProto` (what confluent-kafka's Python serializer registers), checked by loading it into a
`google.protobuf` descriptor pool; and Confluent's documented Protobuf compatibility rules.

References are imports: each reference's name is the import path. Google's well-known types
(`google/protobuf/*.proto`) are always available, as Confluent's registry provides them.

Compatibility (Confluent's difference types, on the original = writer and update = reader):
incompatible are PACKAGE_CHANGED, MESSAGE_REMOVED, FIELD_KIND_CHANGED (scalar <-> message <-> enum),
FIELD_SCALAR_KIND_CHANGED (outside the wire-compatible groups int32/uint32/int64/uint64/bool,
sint32/sint64, fixed32/sfixed32, fixed64/sfixed64, string/bytes), FIELD_NAMED_TYPE_CHANGED,
REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED, ONEOF_FIELD_REMOVED, FIELD_MOVED_TO_EXISTING_ONEOF and
MULTIPLE_FIELDS_MOVED_TO_ONEOF; everything else (fields, messages, enums and enum values added or removed,
renames) is compatible.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor_pb2 import FileDescriptorProto as FDP
from google.protobuf.message import DecodeError

from riverlog.schema.types import InvalidSchemaError, ParsedSchema, SchemaReference, SchemaType

FieldProto = descriptor_pb2.FieldDescriptorProto
MAIN_FILE = "schema.proto"
_PROTOC_LOCK = threading.Lock()  # protoc's in-process entry point is not known to be re-entrant

_WIRE_GROUPS: list[set[int]] = [
    {FieldProto.TYPE_INT32, FieldProto.TYPE_UINT32, FieldProto.TYPE_INT64, FieldProto.TYPE_UINT64},
    {FieldProto.TYPE_INT32, FieldProto.TYPE_UINT32, FieldProto.TYPE_INT64, FieldProto.TYPE_BOOL},
    {FieldProto.TYPE_SINT32, FieldProto.TYPE_SINT64},
    {FieldProto.TYPE_FIXED32, FieldProto.TYPE_SFIXED32},
    {FieldProto.TYPE_FIXED64, FieldProto.TYPE_SFIXED64},
    {FieldProto.TYPE_STRING, FieldProto.TYPE_BYTES},
]


def well_known_files() -> list[FDP]:
    """FileDescriptorProtos of Google's well-known types, dependencies first."""
    from google.protobuf import (
        any_pb2,
        api_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        source_context_pb2,
        struct_pb2,
        timestamp_pb2,
        type_pb2,
        wrappers_pb2,
    )

    modules = [
        descriptor_pb2,
        any_pb2,
        source_context_pb2,
        type_pb2,
        api_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    ]
    out = []
    for module in [*modules, *_confluent_known_modules()]:
        fdp = FDP()
        fdp.ParseFromString(module.DESCRIPTOR.serialized_pb)
        out.append(fdp)
    return out


def _confluent_known_modules() -> list[Any]:
    """The other files Confluent's registry knows without references (its `KNOWN_DEPENDENCIES`):
    `confluent/meta.proto`, `confluent/type/decimal.proto`, `confluent/type/variant.proto` (shipped
    with confluent-kafka) and Google's common types `google/type/*.proto` (googleapis-common-protos),
    which Confluent's serializers import for Connect metadata, Decimal, Date and TimeOfDay."""
    import importlib

    names = [
        "confluent_kafka.schema_registry.confluent.meta_pb2",
        "confluent_kafka.schema_registry.confluent.type.decimal_pb2",
        "confluent_kafka.schema_registry.confluent.type.variant_pb2",
        *(
            f"google.type.{name}_pb2"
            for name in (
                "calendar_period",
                "color",
                "date",
                "datetime",
                "dayofweek",
                "decimal",
                "expr",
                "fraction",
                "interval",
                "latlng",
                "money",
                "month",
                "phone_number",
                "postal_address",
                "quaternion",
                "timeofday",
            )
        ),
    ]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # pragma: no cover - an older confluent-kafka without the file
            continue
    return modules


_WELL_KNOWN: list[FDP] | None = None


def _well_known() -> list[FDP]:
    global _WELL_KNOWN
    if _WELL_KNOWN is None:
        _WELL_KNOWN = well_known_files()
    return _WELL_KNOWN


def decode_descriptor(text: str) -> FDP | None:
    """A base64 FileDescriptorProto, or None when `text` is not one (then it is .proto text)."""
    stripped = text.strip()
    if not stripped or any(c in stripped for c in " \n\t{;"):
        return None
    _well_known()  # imports confluent/meta.proto first, so its option extensions parse
    try:
        raw = base64.b64decode(stripped, validate=True)
        fdp = FDP()
        fdp.ParseFromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        return None
    return fdp


def compile_proto(text: str, deps: list[FDP], name: str = MAIN_FILE) -> FDP:
    """Compile .proto text with protoc against `deps` (and the well-known types); raises
    InvalidSchemaError with protoc's message."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="riverlog-proto-") as tmp:
        root = Path(tmp)
        source = root / "src"
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        known = {f.name for f in deps}
        fds = descriptor_pb2.FileDescriptorSet()
        fds.file.extend([f for f in _well_known() if f.name not in known])
        fds.file.extend(deps)
        (root / "deps.pb").write_bytes(fds.SerializeToString())
        out = root / "out.pb"
        args = [
            "protoc",
            f"--descriptor_set_in={root / 'deps.pb'}",
            f"-I{source}",
            f"--descriptor_set_out={out}",
            name,
        ]
        with _PROTOC_LOCK:
            code = protoc.main(args)
        if code != 0 or not out.exists():
            raise InvalidSchemaError(
                f"Invalid schema: {_protoc_message(args).replace(str(source) + '/', '')}"
            )
        result = descriptor_pb2.FileDescriptorSet()
        result.ParseFromString(out.read_bytes())
        for fdp in result.file:
            if fdp.name == name:
                return fdp
    raise InvalidSchemaError("Invalid schema: protoc produced no descriptor")


def _protoc_message(args: list[str]) -> str:
    """protoc writes its errors to the process's stderr: rerun it in a child to read them."""
    proc = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", *args[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or "protoc rejected the schema"


class ProtobufSchema(ParsedSchema):
    """One .proto file; `resolved` maps import paths to their schema texts (text or base64),
    dependencies first."""

    schema_type = SchemaType.PROTOBUF

    def __init__(
        self,
        text: str,
        references: tuple[SchemaReference, ...] = (),
        resolved: Mapping[str, str] | None = None,
    ) -> None:
        # kept as sent: Confluent's (normalized) text ends with a newline
        super().__init__(text if text.strip() else "", references)
        deps: list[FDP] = []
        for dep_name, dep_text in (resolved or {}).items():
            dep = decode_descriptor(dep_text)
            if dep is None:
                dep = compile_proto(dep_text, deps, dep_name)
            dep.name = dep_name
            deps.append(dep)
        fdp = decode_descriptor(self.text)
        if fdp is None:
            fdp = compile_proto(self.text, deps)
        elif not fdp.name:
            fdp.name = MAIN_FILE
        self.file = fdp
        self.deps = deps
        self.pool = self._load(fdp, deps)
        self._canonical = self._canonical_bytes()

    @staticmethod
    def _load(fdp: FDP, deps: list[FDP]) -> descriptor_pool.DescriptorPool:
        pool = descriptor_pool.DescriptorPool()
        names = {d.name for d in deps}
        try:
            for known in _well_known():
                if known.name not in names and known.name != fdp.name:
                    pool.Add(known)
            for dep in deps:
                pool.Add(dep)
            pool.Add(fdp)
            pool.FindFileByName(fdp.name)
        except (TypeError, KeyError, ValueError) as exc:
            raise InvalidSchemaError(f"Invalid schema: {exc}") from None
        return pool

    def _canonical_bytes(self) -> str:
        copy = FDP()
        copy.CopyFrom(self.file)
        copy.ClearField("name")
        copy.ClearField("source_code_info")
        _clear_default_json_names(list(copy.message_type))
        return base64.b64encode(copy.SerializeToString(deterministic=True)).decode()

    def canonical(self) -> str:
        return self._canonical

    def normalized_text(self) -> str:
        """`?normalize=true`: Confluent's normalized .proto text (see `proto_normalize`)."""
        from riverlog.schema.proto_normalize import normalized_proto

        return normalized_proto(self.file)

    def serialized(self) -> str:
        """Confluent's `format=serialized`: the base64 FileDescriptorProto."""
        return base64.b64encode(self.file.SerializeToString()).decode()

    def as_text(self) -> ProtobufSchema:
        """This schema as .proto text (Confluent answers text): itself when it is text already, else
        the rendered descriptor — or itself when the rendering does not compile back to the same
        descriptor."""
        if decode_descriptor(self.text) is None:
            return self
        from riverlog.schema.proto_text import render

        resolved = {
            dep.name: base64.b64encode(dep.SerializeToString()).decode() for dep in self.deps
        }
        try:
            rendered = ProtobufSchema(render(self.file), self.references, resolved)
        except InvalidSchemaError:
            return self
        return rendered if rendered.canonical() == self.canonical() else self

    def record_name(self) -> str | None:
        if not self.file.message_type:
            return None
        package = self.file.package
        first = self.file.message_type[0].name
        return f"{package}.{first}" if package else first

    def messages(self) -> dict[str, descriptor_pb2.DescriptorProto]:
        """Every message of the file, nested ones included, by full name (no leading dot)."""
        out: dict[str, descriptor_pb2.DescriptorProto] = {}

        def walk(prefix: str, msgs: list[descriptor_pb2.DescriptorProto]) -> None:
            for msg in msgs:
                full = f"{prefix}.{msg.name}" if prefix else msg.name
                if msg.options.map_entry:
                    continue
                out[full] = msg
                walk(full, list(msg.nested_type))

        walk(self.file.package, list(self.file.message_type))
        return out

    def read_errors(self, writer: ParsedSchema) -> list[str]:
        if not isinstance(writer, ProtobufSchema):
            return [
                f"Incompatible schema type: {writer.schema_type.value} cannot be read as PROTOBUF"
            ]
        return _diff(writer, self)


def _clear_default_json_names(messages: list[descriptor_pb2.DescriptorProto]) -> None:
    """protoc fills in `json_name`, hand-built descriptors often do not: the default says nothing."""
    for message in messages:
        for field in message.field:
            parts = field.name.split("_")
            default = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
            if field.json_name == default:
                field.ClearField("json_name")
        _clear_default_json_names(list(message.nested_type))


def _fail(kind: str, where: str) -> str:
    return f"{{errorType:'{kind}', location:'{where}'}}"


def _diff(original: ProtobufSchema, update: ProtobufSchema) -> list[str]:
    errors: list[str] = []
    if original.file.package != update.file.package:
        errors.append(_fail("PACKAGE_CHANGED", "#/package"))
    old_msgs, new_msgs = original.messages(), update.messages()
    for name, old in old_msgs.items():
        new = new_msgs.get(name)
        if new is None:
            errors.append(_fail("MESSAGE_REMOVED", f"#/{name}"))
            continue
        errors.extend(_diff_message(name, old, new))
    return errors


def _kind(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP):
        return "message"
    if field.type == FieldProto.TYPE_ENUM:
        return "enum"
    return "scalar"


def _in_real_oneof(field: descriptor_pb2.FieldDescriptorProto) -> bool:
    return field.HasField("oneof_index") and not field.proto3_optional


def _diff_message(
    name: str, old: descriptor_pb2.DescriptorProto, new: descriptor_pb2.DescriptorProto
) -> list[str]:
    errors: list[str] = []
    old_fields = {f.number: f for f in old.field}
    new_fields = {f.number: f for f in new.field}
    for number, was in old_fields.items():
        where = f"#/{name}/{number}"
        now = new_fields.get(number)
        if now is None:
            if was.label == FieldProto.LABEL_REQUIRED:
                errors.append(_fail("REQUIRED_FIELD_REMOVED", where))
            elif _in_real_oneof(was):
                errors.append(_fail("ONEOF_FIELD_REMOVED", where))
            continue
        if _kind(was) != _kind(now):
            errors.append(_fail("FIELD_KIND_CHANGED", where))
        elif _kind(was) == "scalar":
            if was.type != now.type and not any(
                was.type in group and now.type in group for group in _WIRE_GROUPS
            ):
                errors.append(_fail("FIELD_SCALAR_KIND_CHANGED", where))
        elif was.type_name != now.type_name:
            errors.append(_fail("FIELD_NAMED_TYPE_CHANGED", where))
        if _in_real_oneof(now) and not _in_real_oneof(was):
            errors.append(_fail("FIELD_MOVED_TO_EXISTING_ONEOF", where))
    for number, now in new_fields.items():
        if number not in old_fields and now.label == FieldProto.LABEL_REQUIRED:
            errors.append(_fail("REQUIRED_FIELD_ADDED", f"#/{name}/{number}"))
    # Several existing fields gathered into one new oneof change how they are written.
    moved: dict[int, int] = {}
    for number, now in new_fields.items():
        was = old_fields.get(number)
        if was is not None and _in_real_oneof(now) and not _in_real_oneof(was):
            moved[now.oneof_index] = moved.get(now.oneof_index, 0) + 1
    for index, count in moved.items():
        if count > 1:
            errors.append(_fail("MULTIPLE_FIELDS_MOVED_TO_ONEOF", f"#/{name}/oneof/{index}"))
    return errors
