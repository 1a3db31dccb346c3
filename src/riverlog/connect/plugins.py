"""Finding plugins: connectors, converters, transforms and predicates by name.

Built-ins are listed here under Kafka's (or Confluent's) full class names; third-party plugins join through
the `riverlog.connectors` entry point group (`pip install` a package that declares
`[project.entry-points."riverlog.connectors"] MySource = "pkg.mod:MySourceConnector"`). Any plugin can be
named by its full class name (Kafka's for built-ins; `module.Class` or `module:Class` for Python ones),
its simple class name, or its simple name without the kind's suffix (`FileStreamSource`,
`JsonConverter`/`Json`), as Kafka's `PluginUtils` aliases do. An ambiguous alias is refused, as Kafka does.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.metadata
import threading
from dataclasses import dataclass
from typing import Any

from riverlog.connect.errors import NotFoundException

ENTRY_POINT_GROUP = "riverlog.connectors"
VERSION = "3.9.0"  # the Kafka Connect version whose behaviour this runtime follows

# Kafka class name -> where the Python class lives.
BUILTINS: dict[str, str] = {
    "org.apache.kafka.connect.file.FileStreamSourceConnector": "riverlog.connect.file:FileStreamSourceConnector",
    "org.apache.kafka.connect.file.FileStreamSinkConnector": "riverlog.connect.file:FileStreamSinkConnector",
    "io.confluent.connect.jdbc.JdbcSourceConnector": "riverlog.connect.jdbc.source:JdbcSourceConnector",
    "io.confluent.connect.jdbc.JdbcSinkConnector": "riverlog.connect.jdbc.sink:JdbcSinkConnector",
    "io.confluent.kafka.connect.datagen.DatagenConnector": "riverlog.connect.datagen:DatagenConnector",
    "io.confluent.connect.http.HttpSinkConnector": "riverlog.connect.http_sink:HttpSinkConnector",
    "org.apache.kafka.connect.json.JsonConverter": "riverlog.connect.converters:JsonConverter",
    "org.apache.kafka.connect.storage.StringConverter": "riverlog.connect.converters:StringConverter",
    "org.apache.kafka.connect.converters.ByteArrayConverter": "riverlog.connect.converters:ByteArrayConverter",
    "org.apache.kafka.connect.transforms.Cast$Key": "riverlog.connect.transforms.fields:CastKey",
    "org.apache.kafka.connect.transforms.Cast$Value": "riverlog.connect.transforms.fields:CastValue",
    "org.apache.kafka.connect.transforms.ExtractField$Key": "riverlog.connect.transforms.fields:ExtractFieldKey",
    "org.apache.kafka.connect.transforms.ExtractField$Value": "riverlog.connect.transforms.fields:ExtractFieldValue",
    "org.apache.kafka.connect.transforms.Flatten$Key": "riverlog.connect.transforms.fields:FlattenKey",
    "org.apache.kafka.connect.transforms.Flatten$Value": "riverlog.connect.transforms.fields:FlattenValue",
    "org.apache.kafka.connect.transforms.HoistField$Key": "riverlog.connect.transforms.fields:HoistFieldKey",
    "org.apache.kafka.connect.transforms.HoistField$Value": "riverlog.connect.transforms.fields:HoistFieldValue",
    "org.apache.kafka.connect.transforms.InsertField$Key": "riverlog.connect.transforms.fields:InsertFieldKey",
    "org.apache.kafka.connect.transforms.InsertField$Value": "riverlog.connect.transforms.fields:InsertFieldValue",
    "org.apache.kafka.connect.transforms.MaskField$Key": "riverlog.connect.transforms.fields:MaskFieldKey",
    "org.apache.kafka.connect.transforms.MaskField$Value": "riverlog.connect.transforms.fields:MaskFieldValue",
    "org.apache.kafka.connect.transforms.ReplaceField$Key": "riverlog.connect.transforms.fields:ReplaceFieldKey",
    "org.apache.kafka.connect.transforms.ReplaceField$Value": "riverlog.connect.transforms.fields:ReplaceFieldValue",
    "org.apache.kafka.connect.transforms.SetSchemaMetadata$Key": "riverlog.connect.transforms.metadata:SetSchemaMetadataKey",
    "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value": "riverlog.connect.transforms.metadata:SetSchemaMetadataValue",
    "org.apache.kafka.connect.transforms.ValueToKey": "riverlog.connect.transforms.metadata:ValueToKey",
    "org.apache.kafka.connect.transforms.HeaderFrom$Key": "riverlog.connect.transforms.routing:HeaderFromKey",
    "org.apache.kafka.connect.transforms.HeaderFrom$Value": "riverlog.connect.transforms.routing:HeaderFromValue",
    "org.apache.kafka.connect.transforms.TimestampConverter$Key": "riverlog.connect.transforms.routing:TimestampConverterKey",
    "org.apache.kafka.connect.transforms.TimestampConverter$Value": "riverlog.connect.transforms.routing:TimestampConverterValue",
    "org.apache.kafka.connect.transforms.DropHeaders": "riverlog.connect.transforms.routing:DropHeaders",
    "org.apache.kafka.connect.transforms.Filter": "riverlog.connect.transforms.routing:Filter",
    "org.apache.kafka.connect.transforms.InsertHeader": "riverlog.connect.transforms.routing:InsertHeader",
    "org.apache.kafka.connect.transforms.RegexRouter": "riverlog.connect.transforms.routing:RegexRouter",
    "org.apache.kafka.connect.transforms.TimestampRouter": "riverlog.connect.transforms.routing:TimestampRouter",
    "org.apache.kafka.connect.transforms.predicates.TopicNameMatches": "riverlog.connect.transforms.routing:TopicNameMatches",
    "org.apache.kafka.connect.transforms.predicates.HasHeaderKey": "riverlog.connect.transforms.routing:HasHeaderKey",
    "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone": "riverlog.connect.transforms.routing:RecordIsTombstone",
    "org.apache.kafka.connect.storage.SimpleHeaderConverter": "riverlog.connect.converters:SimpleHeaderConverter",
    "io.confluent.connect.avro.AvroConverter": "riverlog.connect.avro_converter:AvroConverter",
    "io.confluent.connect.json.JsonSchemaConverter": "riverlog.connect.json_schema_converter:JsonSchemaConverter",
    "io.confluent.connect.protobuf.ProtobufConverter": "riverlog.connect.protobuf_converter:ProtobufConverter",
}

_PLUGIN_TYPES = (
    ("SourceConnector", "source", "Connector"),
    ("SinkConnector", "sink", "Connector"),
    ("Converter", "converter", "Converter"),
    ("Transformation", "transformation", ""),
    ("Predicate", "predicate", ""),
)


@dataclass(frozen=True)
class PluginDesc:
    class_name: str
    type: str
    version: str
    target: str  # module:attribute

    def load(self) -> builtins.type[Any]:
        module, _, attr = self.target.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert isinstance(obj, type)
        return obj

    def as_json(self) -> dict[str, str]:
        return {"class": self.class_name, "type": self.type, "version": self.version}


def _kind_of(cls: builtins.type[Any]) -> tuple[str, str]:
    declared = getattr(cls, "PLUGIN_TYPE", None)
    if isinstance(declared, str):
        return declared, ""
    names = {base.__name__ for base in cls.__mro__}
    for base_name, kind, suffix in _PLUGIN_TYPES:
        if base_name in names:
            return kind, suffix
    return "unknown", ""


class Plugins:
    """The plugin table: built-ins plus entry points, with Kafka's aliases."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._descs: dict[str, PluginDesc] | None = None
        self._aliases: dict[str, str] = {}
        self._extra = dict(extra or {})

    def _scan(self) -> dict[str, PluginDesc]:
        with self._lock:
            if self._descs is not None:
                return self._descs
            targets = dict(BUILTINS)
            targets.update(self._extra)
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                module, _, attr = ep.value.partition(":")
                targets.setdefault(f"{module}.{attr}" if attr else ep.value, ep.value)
                self._aliases.setdefault(ep.name, f"{module}.{attr}" if attr else ep.value)
            descs: dict[str, PluginDesc] = {}
            alias_owners: dict[str, set[str]] = {}
            for class_name, target in targets.items():
                try:
                    probe = PluginDesc(class_name, "unknown", VERSION, target)
                    cls = probe.load()
                except (ImportError, AttributeError):
                    continue  # a broken third-party plugin is skipped, as Kafka's scanner does
                kind, suffix = _kind_of(cls)
                version = _version_of(cls)
                descs[class_name] = PluginDesc(class_name, kind, version, target)
                simple = class_name.replace(":", ".").rsplit(".", 1)[-1]
                names = {simple, cls.__name__, f"{cls.__module__}.{cls.__qualname__}", target}
                if suffix and simple.endswith(suffix) and simple != suffix:
                    names.add(simple[: -len(suffix)])
                for name in names:
                    alias_owners.setdefault(name, set()).add(class_name)
            for name, owners in alias_owners.items():
                if len(owners) == 1 and name not in descs:
                    self._aliases.setdefault(name, next(iter(owners)))
            self._descs = descs
            return descs

    def _import_path(self, name: str) -> PluginDesc | None:
        """A Python class named by its path (`pkg.mod.Class` or `pkg.mod:Class`), as Kafka loads any
        class on its plugin path by name."""
        target = name if ":" in name else ":".join(name.rsplit(".", 1))
        if ":" not in target:
            return None
        probe = PluginDesc(name, "unknown", VERSION, target)
        try:
            cls = probe.load()
        except (ImportError, AttributeError, AssertionError, ValueError):
            return None
        kind, _ = _kind_of(cls)
        if kind == "unknown":
            return None
        desc = PluginDesc(name, kind, _version_of(cls), target)
        with self._lock:
            assert self._descs is not None
            self._descs[name] = desc
        return desc

    def all(self) -> list[PluginDesc]:
        return sorted(self._scan().values(), key=lambda p: p.class_name)

    def resolve(self, name: str) -> PluginDesc:
        """The plugin `name` (full class name or alias) denotes; NotFoundException if none."""
        descs = self._scan()
        name = name.strip()
        desc = descs.get(name) or descs.get(self._aliases.get(name, ""))
        if desc is None:
            desc = self._import_path(name)
        if desc is None:
            raise NotFoundException(
                f"Failed to find any class that implements Connector and which name matches {name}"
            )
        return desc

    def load(self, name: str) -> builtins.type[Any]:
        return self.resolve(name).load()

    def new(self, name: str) -> Any:
        return self.load(name)()


def _version_of(cls: builtins.type[Any]) -> str:
    version = getattr(cls, "VERSION", None)
    return str(version) if version else VERSION


PLUGINS = Plugins()
