"""Version-independent typed messages and their conversion to and from kio's per-version classes.

kio has one frozen dataclass per message *version*. A handler reads and builds the generated views in
`riverlog.protocol.messages.<api>` instead: one class per Kafka struct, the union of its fields over the
versions the broker serves, plain Python types (scripts/gen_messages.py writes them from kio). mypy sees
every field a handler reads or writes, and a field no version has is a TypeError where it is built.

Conversion rules:
- `from_entity` (requests): a view field the decoded version lacks takes the view's default — kio's
  default where every version that has the field agrees on one, else Kafka's implicit default (0, "",
  empty, null), which is what Kafka's own generated classes hold for it.
- `to_entity` (responses): the version's class gets every view field it has; a field it lacks is
  dropped, as Kafka's generated writers ignore fields a version does not carry (and refuse non-default
  values there: that is the handler's business, by version). Nested views convert by their class name,
  which is kio's name of the struct.
- A converter is compiled once per (view class, kio class): a request pays one constructor call per
  struct and an attribute read per field.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from functools import cache
from types import ModuleType
from typing import Final, TypeVar

from kio.index import load_payload_module
from kio.static.constants import EntityType

V = TypeVar("V", bound="Message")

PLAIN: Final = 0
ONE: Final = 1  # a nested struct (or None)
MANY: Final = 2  # a tuple of nested structs


class Message:
    """Base of the generated views: slotted, keyword-only dataclasses (not frozen, for speed;
    handlers build new ones rather than change them)."""

    __slots__ = ()


def _nesting(hint: typing.Any) -> tuple[int, type | None]:
    """How a kio field holds nested structs — PLAIN, ONE or MANY — and the struct's class."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        nested = isinstance(item, type) and dataclasses.is_dataclass(item)
        return (MANY, item) if nested else (PLAIN, None)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _nesting(args[0]) if len(args) == 1 else (PLAIN, None)  # nullable struct/array
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return ONE, hint
    return PLAIN, None


@cache
def _kio_fields(kio_cls: type) -> dict[str, tuple[int, type | None]]:
    hints = typing.get_type_hints(kio_cls)
    return {f.name: _nesting(hints[f.name]) for f in dataclasses.fields(kio_cls)}


@cache
def _view_fields(view_cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(view_cls))


Converter = typing.Callable[[typing.Any], typing.Any]


@cache
def _converter(view_cls: type, kio_cls: type, to_kio: bool) -> Converter:
    """A function from one class to the other (kio -> view, or view -> kio with `to_kio`) that
    copies the fields both have and converts nested structs; compiled once per pair of classes,
    since it runs for every request and response."""
    views = sys.modules[view_cls.__module__]
    view_fields = _view_fields(view_cls)
    target = kio_cls if to_kio else view_cls
    scope: dict[str, object] = {"target": target}
    arguments = []
    for index, (name, (kind, nested_kio)) in enumerate(_kio_fields(kio_cls).items()):
        if name not in view_fields:
            continue
        if kind == PLAIN or nested_kio is None:
            arguments.append(f"{name}=source.{name}")
            continue
        nested_view = getattr(views, nested_kio.__name__)
        scope[f"c{index}"] = _converter(nested_view, nested_kio, to_kio)
        if kind == MANY:
            value = f"tuple([c{index}(item) for item in v{index}])"
        else:
            value = f"c{index}(v{index})"
        arguments.append(f"{name}=None if (v{index} := source.{name}) is None else {value}")
    code = "def convert(source):\n    return target(" + ", ".join(arguments) + ")\n"
    exec(code, scope)  # the source is built from the two classes' field names only
    convert: Converter = scope["convert"]  # type: ignore[assignment]
    return convert


@cache
def response_module(api_key: int, version: int) -> ModuleType:
    """kio's module of response classes for (api key, version)."""
    return load_payload_module(api_key, version, EntityType.response)


@cache
def request_module(api_key: int, version: int) -> ModuleType:
    """kio's module of request classes for (api key, version)."""
    return load_payload_module(api_key, version, EntityType.request)


def to_entity(view: Message, module: ModuleType) -> object:
    """The kio object of `module`'s version for `view` (a response, or a request the broker sends)."""
    view_cls: type = type(view)
    kio_cls: type = getattr(module, view_cls.__name__)
    return _converter(view_cls, kio_cls, True)(view)


def from_entity(view_cls: type[V], entity: object) -> V:
    """The view of a decoded kio object; nested structs become the classes of the same name in the
    view's own module."""
    target: type = view_cls
    source: type = type(entity)
    view: V = _converter(target, source, False)(entity)
    return view


def unknown_fields(view_cls: type, kio_classes: typing.Iterable[type]) -> list[str]:
    """The view's fields that none of `kio_classes` has (the test of the generated modules)."""
    known: set[str] = set()
    for cls in kio_classes:
        known.update(f.name for f in dataclasses.fields(cls))
    return sorted(_view_fields(view_cls) - known)
