"""Builds kio response entities for whatever version a client asked for.

kio has one frozen dataclass per message *version*; a handler should not care which. `ResponseSchema`
looks up the response module for (api key, version) and returns constructors that drop the fields a
version does not have, so a handler writes one construction for every version it serves.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from functools import cache
from typing import Any

from kio.index import load_payload_module
from kio.static.constants import EntityType
from kio.static.primitive import i32Timedelta

ZERO_THROTTLE = i32Timedelta.parse(datetime.timedelta(0))


@cache
def _fields(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


@cache
def _module(api_key: int, version: int, entity: Any) -> Any:
    return load_payload_module(api_key, version, entity)


class ResponseSchema:
    """`schema.PartitionProduceResponse(index=0, ...)` builds that class for this version."""

    __slots__ = ("_module", "api_key", "version")

    def __init__(self, api_key: int, version: int) -> None:
        self.api_key = api_key
        self.version = version
        self._module = _module(api_key, version, EntityType.response)

    def has(self, class_name: str, field_name: str) -> bool:
        return field_name in _fields(getattr(self._module, class_name))

    def __getattr__(self, class_name: str) -> Callable[..., Any]:
        cls = getattr(self._module, class_name)
        allowed = _fields(cls)

        def build(**values: Any) -> Any:
            return cls(**{k: v for k, v in values.items() if k in allowed})

        return build


def request_schema(api_key: int, version: int) -> ResponseSchema:
    """The same builder over request classes (inter-broker requests and tests)."""
    schema = ResponseSchema.__new__(ResponseSchema)
    schema.api_key = api_key
    schema.version = version
    schema._module = _module(api_key, version, EntityType.request)
    return schema


def millis(value: Any) -> int:
    """kio decodes i32/i64 timedeltas to `datetime.timedelta`; Kafka means milliseconds."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return int(value)
