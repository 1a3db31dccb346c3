"""Protobuf's `?normalize=true` form, as Confluent's registry writes it
(`ProtobufSchemaUtils.toNormalizedString`), rendered from a compiled `FileDescriptorProto`.

Confluent's rules, each applied here:
- `syntax` is written for proto3 only; imports sorted and de-duplicated (public imports after the
  others); options sorted by name, at every level (file, message, field, oneof, enum, enum value,
  service, method);
- message and enum order is kept (clients compute message indexes from it): messages first, then
  enums, at each level; synthetic map-entry messages are not written, their fields read `map<K, V>`;
- fields sorted by tag, then oneofs sorted by their first tag (their fields by tag), then extension
  ranges, one per line, by start; `reserved` one value per line, numbers by start, then names;
  single-number ranges written as the number; enum constants sorted by number, then name;
- every message/enum type name fully qualified with a leading dot (`.pkg.Msg`), map values included;
  RPC request/response types too;
- `extend` blocks grouped by the extended type, fields by tag;
- custom options (`(confluent.field_meta) = {…}`) written as Confluent writes option maps: keys
  sorted, a one-element list as its element.

The descriptor has lost what the text said literally, so: `json_name` is written only when it
differs from protoc's default; custom options are written only when their extension is known to
protobuf's default pool (Confluent's `confluent/meta.proto` is); proto2 groups are not written.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2

F = descriptor_pb2.FieldDescriptorProto
MAX_TAG = 536870911

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
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
}


def normalized_proto(fdp: descriptor_pb2.FileDescriptorProto) -> str:
    """The normalized .proto text of one file descriptor."""
    out = []
    if fdp.syntax == "proto3":
        out.append('syntax = "proto3";\n')
    if fdp.package:
        out.append(f"package {fdp.package};\n")
    public = {fdp.dependency[i] for i in fdp.public_dependency}
    plain = sorted({d for d in fdp.dependency if d not in public})
    if plain or public:
        out.append("\n")
        out.extend(f'import "{d}";\n' for d in plain)
        out.extend(f'import public "{d}";\n' for d in sorted(public))
    options = _options(fdp.options)
    if options:
        out.append("\n")
        out.extend(f"option {o};\n" for o in options)
    scope = f".{fdp.package}" if fdp.package else ""
    messages = [m for m in fdp.message_type if not m.options.map_entry]
    if messages or fdp.enum_type:
        out.append("\n")
        out.extend(_message(m, f"{scope}.{m.name}", fdp.syntax) for m in messages)
        out.extend(_enum(e) for e in fdp.enum_type)
    if fdp.extension:
        out.append("\n")
        out.extend(_extends(list(fdp.extension), {}, fdp.syntax))
    if fdp.service:
        out.append("\n")
        out.extend(_service(s) for s in fdp.service)
    return "".join(out)


def _indented(text: str) -> str:
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return "".join(f"  {line}\n" for line in lines)


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _number(value: Any) -> str:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        text = f"{value:.3f}".rstrip("0").rstrip(".")  # Java's DecimalFormat: 3 fraction digits
        return text if text not in ("-0", "") else "0"
    return str(value)


def _options(options: Any) -> list[str]:
    """`name = value` of each set option, sorted by name (a custom option's name is parenthesized,
    and sorts without its parentheses); message values are written as Confluent writes option maps."""
    out = []
    for field, value in options.ListFields():
        text = _option(field, value)
        if text is not None:
            out.append((field.full_name if field.is_extension else field.name, text))
    return [text for _, text in sorted(out, key=lambda item: item[0])]


def option_text(field: Any, value: Any) -> str | None:
    """One option as `name = value` (message values as Confluent's option maps), or None for what
    is not written (repeated options)."""
    return _option(field, value)


def _option(field: Any, value: Any) -> str | None:
    name = f"({field.full_name})" if field.is_extension else field.name
    if field.type == F.TYPE_MESSAGE:
        if _repeated(value):
            return None  # repeated message-valued options are not written
        return f"{name} = {{\n{_option_map(value)}}}"
    if _repeated(value):
        return None
    return f"{name} = {_scalar(field, value)}"


def _scalar(field: Any, value: Any) -> str:
    if field.type == F.TYPE_STRING:
        return f'"{_escape(str(value))}"'
    if field.type == F.TYPE_BYTES:
        return f'"{_escape(bytes(value).decode("latin-1"))}"'
    if field.type == F.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == F.TYPE_ENUM:
        return str(field.enum_type.values_by_number[value].name)
    return _number(value)


def _option_map(message: Any) -> str:
    """Confluent's `formatOptionMap`: `key: value` lines sorted by key, comma-separated."""
    entries = sorted(
        ((fd.name, _option_value(fd, value)) for fd, value in message.ListFields()),
        key=lambda item: item[0],
    )
    last = len(entries) - 1
    return "".join(
        _indented(f"{key}: {text}{',' if i != last else ''}")
        for i, (key, text) in enumerate(entries)
    )


def _option_value(field: Any, value: Any) -> str:
    if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        entry_fields = field.message_type.fields_by_name
        items = [
            "{\n"
            + _indented(f"key: {_scalar(entry_fields['key'], k)},")
            + _indented(f"value: {_option_value_one(entry_fields['value'], v)}")
            + "}"
            for k, v in sorted(value.items())
        ]
        return _option_list(items)
    if _repeated(value):
        return _option_list([_option_value_one(field, v) for v in value])
    return _option_value_one(field, value)


def _option_value_one(field: Any, value: Any) -> str:
    if field.type == F.TYPE_MESSAGE:
        return f"{{\n{_option_map(value)}}}"
    return _scalar(field, value)


def _option_list(items: list[str]) -> str:
    """A one-element list is written as its element when normalizing (Confluent)."""
    if len(items) == 1:
        return items[0]
    last = len(items) - 1
    return (
        "[\n"
        + "".join(_indented(t + ("," if i != last else "")) for i, t in enumerate(items))
        + "]"
    )


def _repeated(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes))


def _bracket(options: list[str]) -> str:
    if not options:
        return ""
    if len(options) == 1:
        return f" [{options[0]}]"
    body = "".join(
        _indented(o + ("," if i < len(options) - 1 else "")) for i, o in enumerate(options)
    )
    return f" [\n{body}]"


def _camel(name: str) -> str:
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _field(field: Any, syntax: str, maps: dict[str, Any], in_oneof: bool) -> str:
    entry = maps.get(field.type_name) if field.type == F.TYPE_MESSAGE else None
    if entry is not None:
        key, value = entry.field[0], entry.field[1]
        head = f"map<{_type(key)}, {_type(value)}>"
    else:
        head = _type(field)
        if field.label == F.LABEL_REPEATED:
            head = "repeated " + head
        elif field.label == F.LABEL_REQUIRED:
            head = "required " + head
        elif not in_oneof and (syntax != "proto3" or field.proto3_optional):
            head = "optional " + head
    options = [(name, text) for name, text in _field_specials(field)]
    options.extend((o.split(" = ")[0].strip("()"), o) for o in _options(field.options))
    rendered = [text for _, text in sorted(options, key=lambda item: item[0])]
    return f"{head} {field.name} = {field.number}{_bracket(rendered)};\n"


def _field_specials(field: Any) -> list[tuple[str, str]]:
    out = []
    if field.HasField("default_value"):
        default = field.default_value
        if field.type == F.TYPE_STRING:
            default = f'"{_escape(default)}"'
        elif field.type in _SCALARS and field.type not in (F.TYPE_BOOL, F.TYPE_BYTES):
            try:
                default = _number(float(default) if "." in default else int(default))
            except ValueError:
                pass
        out.append(("default", f"default = {default}"))
    if field.HasField("json_name") and field.json_name != _camel(field.name):
        out.append(("json_name", f'json_name = "{_escape(field.json_name)}"'))
    return out


def _type(field: Any) -> str:
    if field.type in (F.TYPE_MESSAGE, F.TYPE_ENUM, F.TYPE_GROUP):
        name = str(field.type_name)
        return name if name.startswith(".") else "." + name
    return _SCALARS[field.type]


def _ranges(ranges: Any, inclusive_end: bool) -> list[tuple[int, str]]:
    out = []
    for r in ranges:
        last = r.end if inclusive_end else r.end - 1
        if last == r.start:
            text = str(r.start)
        else:
            text = f"{r.start} to {last if last < MAX_TAG else 'max'}"
        out.append((r.start, text))
    return out


def _reserved(desc: Any, inclusive_end: bool) -> list[str]:
    numbers = sorted(_ranges(desc.reserved_range, inclusive_end))
    names = sorted(desc.reserved_name)
    return [f"reserved {text};\n" for _, text in numbers] + [f'reserved "{n}";\n' for n in names]


def _message(message: Any, full: str, syntax: str) -> str:
    out = [f"message {message.name} {{"]
    reserved = _reserved(message, inclusive_end=False)
    if reserved:
        out.append("\n")
        out.extend(_indented(r) for r in reserved)
    options = _options(message.options)
    if options:
        out.append("\n")
        out.extend(_indented(f"option {o};\n") for o in options)
    maps = {f"{full}.{n.name}": n for n in message.nested_type if n.options.map_entry}
    real = {
        f.oneof_index for f in message.field if f.HasField("oneof_index") and not f.proto3_optional
    }
    plain = [f for f in message.field if not (f.HasField("oneof_index") and f.oneof_index in real)]
    if plain:
        out.append("\n")
        for field in sorted(plain, key=lambda f: f.number):
            out.append(_indented(_field(field, syntax, maps, in_oneof=False)))
    oneofs = []
    for index in real:
        members = sorted(
            (f for f in message.field if f.HasField("oneof_index") and f.oneof_index == index),
            key=lambda f: f.number,
        )
        if members:
            oneofs.append((members[0].number, index, members))
    if oneofs:
        out.append("\n")
        for _, index, members in sorted(oneofs, key=lambda item: item[0]):
            out.append(_indented(_oneof(message.oneof_decl[index], members, syntax, maps)))
    extensions = sorted(_ranges(message.extension_range, inclusive_end=False))
    if extensions:
        out.append("\n")
        out.extend(_indented(f"extensions {text};\n") for _, text in extensions)
    if message.extension:
        out.append("\n")
        out.extend(_indented(e) for e in _extends(list(message.extension), maps, syntax))
    nested = [n for n in message.nested_type if not n.options.map_entry]
    if nested or message.enum_type:
        out.append("\n")
        out.extend(_indented(_message(n, f"{full}.{n.name}", syntax)) for n in nested)
        out.extend(_indented(_enum(e)) for e in message.enum_type)
    out.append("}\n")
    return "".join(out)


def _oneof(decl: Any, members: list[Any], syntax: str, maps: dict[str, Any]) -> str:
    out = [f"oneof {decl.name} {{"]
    options = _options(decl.options)
    if options:
        out.append("\n")
        out.extend(_indented(f"option {o};\n") for o in options)
    out.append("\n")
    out.extend(_indented(_field(f, syntax, maps, in_oneof=True)) for f in members)
    out.append("}\n")
    return "".join(out)


def _extends(fields: list[Any], maps: dict[str, Any], syntax: str) -> list[str]:
    groups: dict[str, list[Any]] = {}
    for field in fields:
        extendee = str(field.extendee)
        groups.setdefault(extendee if extendee.startswith(".") else "." + extendee, []).append(
            field
        )
    out = []
    for extendee, members in groups.items():
        body = "".join(
            _indented(_field(f, syntax, maps, in_oneof=False))
            for f in sorted(members, key=lambda f: f.number)
        )
        out.append(f"extend {extendee} {{\n{body}}}\n")
    return out


def _enum(enum: Any) -> str:
    out = [f"enum {enum.name} {{"]
    reserved = _reserved(enum, inclusive_end=True)
    if reserved:
        out.append("\n")
        out.extend(_indented(r) for r in reserved)
    options = _options(enum.options)
    if not reserved and (options or enum.value):
        out.append("\n")
    out.extend(_indented(f"option {o};\n") for o in options)
    for value in sorted(enum.value, key=lambda v: (v.number, v.name)):
        out.append(
            _indented(f"{value.name} = {value.number}{_bracket(_options(value.options))};\n")
        )
    out.append("}\n")
    return "".join(out)


def _service(service: Any) -> str:
    out = [f"service {service.name} {{"]
    options = _options(service.options)
    if options:
        out.append("\n")
        out.extend(_indented(f"option {o};\n") for o in options)
    if service.method:
        out.append("\n")
        for method in service.method:
            client = "stream " if method.client_streaming else ""
            server = "stream " if method.server_streaming else ""
            request = _dotted(method.input_type)
            response = _dotted(method.output_type)
            line = f"rpc {method.name} ({client}{request}) returns ({server}{response})"
            rpc_options = _options(method.options)
            if rpc_options:
                line += " {\n" + "".join(_indented(f"option {o};\n") for o in rpc_options) + "}"
            out.append(_indented(line + ";\n"))
    out.append("}\n")
    return "".join(out)


def _dotted(name: str) -> str:
    return name if name.startswith(".") else "." + name
