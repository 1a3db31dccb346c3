"""A `FileDescriptorProto` rendered as `.proto` text, as Confluent's registry answers a Protobuf schema
registered as a base64 descriptor. Type names are written fully qualified (`.pkg.Msg`), which protoc
accepts anywhere, so the text compiles back to the same descriptor; callers check that (see
`ProtobufSchema.as_text`) and keep the descriptor form when it does not."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2

from riverlog.schema.proto_normalize import option_text as custom_option

F = descriptor_pb2.FieldDescriptorProto

_SCALARS = {
    F.TYPE_DOUBLE: "double",
    F.TYPE_FLOAT: "float",
    F.TYPE_INT64: "int64",
    F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32",
    F.TYPE_FIXED64: "fixed64",
    F.TYPE_FIXED32: "fixed32",
    F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string",
    F.TYPE_BYTES: "bytes",
    F.TYPE_UINT32: "uint32",
    F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64",
    F.TYPE_SINT32: "sint32",
    F.TYPE_SINT64: "sint64",
}


def render(fdp: Any) -> str:
    """The .proto text of one file descriptor."""
    syntax = fdp.syntax or "proto2"
    out = [f'syntax = "{syntax}";']
    if fdp.package:
        out.append(f"package {fdp.package};")
    public = set(fdp.public_dependency)
    weak = set(fdp.weak_dependency)
    for index, dep in enumerate(fdp.dependency):
        kind = "public " if index in public else "weak " if index in weak else ""
        out.append(f'import {kind}"{dep}";')
    out.extend(_options(fdp.options, ""))
    for enum in fdp.enum_type:
        out.extend(_enum(enum, ""))
    scope = f".{fdp.package}" if fdp.package else ""
    for message in fdp.message_type:
        out.extend(_message(message, "", syntax, scope))
    for service in fdp.service:
        out.append(f"service {service.name} {{")
        for method in service.method:
            client = "stream " if method.client_streaming else ""
            server = "stream " if method.server_streaming else ""
            out.append(
                f"  rpc {method.name} ({client}{method.input_type}) "
                f"returns ({server}{method.output_type});"
            )
        out.append("}")
    return "\n".join(out) + "\n"


def _options(options: Any, indent: str) -> list[str]:
    lines: list[str] = []
    for field, value in options.ListFields():
        if field.is_extension or field.type == F.TYPE_MESSAGE:
            custom = custom_option(field, value)  # e.g. (confluent.file_meta) = {…}
            if custom is not None:
                lines.extend(f"{indent}{line}" for line in f"option {custom};".split("\n"))
            continue
        if field.type == F.TYPE_STRING:
            rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif field.type == F.TYPE_BOOL:
            rendered = "true" if value else "false"
        elif field.type == F.TYPE_ENUM:
            rendered = field.enum_type.values_by_number[value].name
        elif field.type in _SCALARS:
            rendered = str(value)
        else:
            continue  # message-valued and custom options are not rendered
        lines.append(f"{indent}option {field.name} = {rendered};")
    return lines


def _enum(enum: Any, indent: str) -> list[str]:
    out = [f"{indent}enum {enum.name} {{"]
    out.extend(_options(enum.options, indent + "  "))
    for value in enum.value:
        out.append(f"{indent}  {value.name} = {value.number};")
    out.extend(_reserved(enum, indent + "  ", inclusive_end=True))
    out.append(f"{indent}}}")
    return out


def _reserved(desc: Any, indent: str, inclusive_end: bool) -> list[str]:
    out = []
    ranges = []
    for r in desc.reserved_range:
        end = r.end if inclusive_end else r.end - 1
        ranges.append(str(r.start) if end == r.start else f"{r.start} to {end}")
    if ranges:
        out.append(f"{indent}reserved {', '.join(ranges)};")
    if desc.reserved_name:
        names = ", ".join(f'"{n}"' for n in desc.reserved_name)
        out.append(f"{indent}reserved {names};")
    return out


def _type(field: Any) -> str:
    if field.type in (F.TYPE_MESSAGE, F.TYPE_ENUM, F.TYPE_GROUP):
        return str(field.type_name)
    return _SCALARS[field.type]


def _field(field: Any, syntax: str, maps: dict[str, Any], indent: str, in_oneof: bool) -> str:
    entry = maps.get(field.type_name) if field.type == F.TYPE_MESSAGE else None
    if entry is not None:
        key, value = entry.field[0], entry.field[1]
        head = f"map<{_type(key)}, {_type(value)}>"
    else:
        head = _type(field)
        if field.label == F.LABEL_REPEATED:
            head = "repeated " + head
        elif in_oneof:
            pass
        elif field.label == F.LABEL_REQUIRED:
            head = "required " + head
        elif syntax == "proto2" or field.proto3_optional:
            head = "optional " + head
    options = []
    if field.HasField("default_value"):
        default = field.default_value
        quoted = field.type in (F.TYPE_STRING, F.TYPE_BYTES)
        options.append(f'default = "{default}"' if quoted else f"default = {default}")
    if field.options.HasField("packed"):
        options.append(f"packed = {'true' if field.options.packed else 'false'}")
    if field.options.deprecated:
        options.append("deprecated = true")
    if field.HasField("json_name") and field.json_name != _camel(field.name):
        options.append(f'json_name = "{field.json_name}"')
    for option_field, value in field.options.ListFields():
        if option_field.is_extension:  # e.g. (confluent.field_meta) = {…}, Connect's metadata
            custom = custom_option(option_field, value)
            if custom is not None:
                options.append(custom.replace("\n", "\n" + indent))
    suffix = f" [{', '.join(options)}]" if options else ""
    return f"{indent}{head} {field.name} = {field.number}{suffix};"


def _camel(name: str) -> str:
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _message(message: Any, indent: str, syntax: str, scope: str = "") -> list[str]:
    full = f"{scope}.{message.name}"
    out = [f"{indent}message {message.name} {{"]
    inner = indent + "  "
    out.extend(_options(message.options, inner))
    maps = {f"{full}.{n.name}": n for n in message.nested_type if n.options.map_entry}
    real_oneofs = {
        f.oneof_index for f in message.field if f.HasField("oneof_index") and not f.proto3_optional
    }
    emitted: set[int] = set()
    for field in message.field:
        if field.HasField("oneof_index") and field.oneof_index in real_oneofs:
            index = field.oneof_index
            if index in emitted:
                continue
            emitted.add(index)
            out.append(f"{inner}oneof {message.oneof_decl[index].name} {{")
            for member in message.field:
                if member.HasField("oneof_index") and member.oneof_index == index:
                    out.append(_field(member, syntax, maps, inner + "  ", in_oneof=True))
            out.append(f"{inner}}}")
            continue
        out.append(_field(field, syntax, maps, inner, in_oneof=False))
    for enum in message.enum_type:
        out.extend(_enum(enum, inner))
    for nested in message.nested_type:
        if not nested.options.map_entry:
            out.extend(_message(nested, inner, syntax, full))
    out.extend(_reserved(message, inner, inclusive_end=False))
    out.append(f"{indent}}}")
    return out
