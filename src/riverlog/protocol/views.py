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
- Conversion plans are computed once per (view class, kio class), so a request pays a dict lookup and
  one constructor call per struct.
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

Plan = tuple[tuple[str, int], ...]


class Message:
    """Base of the generated views: frozen, slotted, keyword-only dataclasses."""

    __slots__ = ()


def _kind(hint: typing.Any) -> int:
    """How a kio field holds nested structs: PLAIN, ONE or MANY."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        return MANY if dataclasses.is_dataclass(item) else PLAIN
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _kind(args[0]) if len(args) == 1 else PLAIN  # a nullable struct or array
    return ONE if dataclasses.is_dataclass(hint) else PLAIN


@cache
def _kio_kinds(kio_cls: type) -> dict[str, int]:
    hints = typing.get_type_hints(kio_cls)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(kio_cls)}


@cache
def _view_fields(view_cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(view_cls))


@cache
def _plan(view_cls: type, kio_cls: type) -> Plan:
    """The fields both classes have, with how kio nests them (either direction)."""
    view_fields = _view_fields(view_cls)
    return tuple((name, kind) for name, kind in _kio_kinds(kio_cls).items() if name in view_fields)


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
    kio_cls: type = getattr(module, type(view).__name__)
    view_cls: type = type(view)
    values: dict[str, object] = {}
    for name, kind in _plan(view_cls, kio_cls):
        value = getattr(view, name)
        if kind == MANY and value is not None:
            value = tuple(to_entity(item, module) for item in value)
        elif kind == ONE and value is not None:
            value = to_entity(value, module)
        values[name] = value
    return kio_cls(**values)


def from_entity(view_cls: type[V], entity: object) -> V:
    """The view of a decoded kio object; nested structs become the classes of the same name in the
    view's own module."""
    return _from_entity(view_cls, entity, sys.modules[view_cls.__module__])


def _from_entity(view_cls: type[V], entity: object, views: ModuleType) -> V:
    values: dict[str, object] = {}
    target: type = view_cls
    source: type = type(entity)
    for name, kind in _plan(target, source):
        value = getattr(entity, name)
        if kind == MANY and value is not None:
            value = tuple(_nested(item, views) for item in value)
        elif kind == ONE and value is not None:
            value = _nested(value, views)
        values[name] = value
    return view_cls(**values)


def _nested(entity: object, views: ModuleType) -> Message:
    view_cls: type[Message] = getattr(views, type(entity).__name__)
    return _from_entity(view_cls, entity, views)


def unknown_fields(view_cls: type, kio_classes: typing.Iterable[type]) -> list[str]:
    """The view's fields that none of `kio_classes` has (the test of the generated modules)."""
    known: set[str] = set()
    for cls in kio_classes:
        known.update(f.name for f in dataclasses.fields(cls))
    return sorted(_view_fields(view_cls) - known)
