"""The SMT and predicate interfaces and the chain a task runs them in.

A `Transformation` takes a record and returns a new one (or None to drop it); a `Predicate` decides per
record whether a transform applies (`transforms.<t>.predicate`, inverted by `transforms.<t>.negate`).
Many SMTs come as `$Key` / `$Value` pairs (Kafka's nested classes): `KeyOrValue` gives the accessors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from riverlog.common.configdef import ConfigDef, ConfigError
from riverlog.connect.api import ConnectRecord
from riverlog.connect.data import Schema
from riverlog.connect.errors import ConfigException


class Transformation:
    config_def: ClassVar[ConfigDef] = ConfigDef()
    config: dict[str, Any]

    def configure(self, props: Mapping[str, Any]) -> None:
        try:
            self.config = self.config_def.parse(props, allow_unknown=True)
        except ConfigError as exc:
            raise ConfigException(str(exc)) from None

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Predicate:
    config_def: ClassVar[ConfigDef] = ConfigDef()
    config: dict[str, Any]

    def configure(self, props: Mapping[str, Any]) -> None:
        try:
            self.config = self.config_def.parse(props, allow_unknown=True)
        except ConfigError as exc:
            raise ConfigException(str(exc)) from None

    def test(self, record: ConnectRecord) -> bool:
        raise NotImplementedError


class KeyOrValue:
    """Mixin: `IS_KEY` picks which half of the record an SMT reads and rewrites."""

    IS_KEY: ClassVar[bool] = False

    def operating_schema(self, record: ConnectRecord) -> Schema | None:
        return record.key_schema if self.IS_KEY else record.value_schema

    def operating_value(self, record: ConnectRecord) -> Any:
        return record.key if self.IS_KEY else record.value

    def new_record(self, record: ConnectRecord, schema: Schema | None, value: Any) -> ConnectRecord:
        if self.IS_KEY:
            return record.replace(key_schema=schema, key=value)  # type: ignore[no-any-return]
        return record.replace(value_schema=schema, value=value)  # type: ignore[no-any-return]


@dataclass
class Stage:
    alias: str
    transform: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        if self.predicate is not None and self.predicate.test(record) == self.negate:
            return record
        return self.transform.apply(record)


class TransformationChain:
    """The stages in order; a stage that returns None drops the record."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        current: ConnectRecord | None = record
        for stage in self.stages:
            if current is None:
                return None
            current = stage.apply(current)
        return current

    def close(self) -> None:
        for stage in self.stages:
            stage.transform.close()
