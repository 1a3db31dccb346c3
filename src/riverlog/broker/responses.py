"""Small helpers the handlers share, and kio's per-version classes by name for tests and tools.

Handlers build typed views (riverlog.protocol.messages) and never name a class by string; tests and
benchmarks that write raw requests of one exact version use `request_schema(api_key, version)`:
`request_schema(0, 9).ProduceRequest(...)` builds kio's class of that version, dropping the keywords
the version does not have.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from functools import cache
from types import ModuleType

from kio.static.primitive import i32Timedelta

from riverlog.protocol.views import request_module, response_module

ZERO_THROTTLE = i32Timedelta.parse(datetime.timedelta(0))


@cache
def _fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


class KioBuilder:
    """`builder.PartitionProduceData(index=0, ...)` builds that kio class of one version (tests)."""

    __slots__ = ("_module", "api_key", "version")

    def __init__(self, module: ModuleType, api_key: int, version: int) -> None:
        self._module = module
        self.api_key = api_key
        self.version = version

    def has(self, class_name: str, field_name: str) -> bool:
        return field_name in _fields(getattr(self._module, class_name))

    def __getattr__(self, class_name: str) -> Callable[..., object]:
        cls = getattr(self._module, class_name)
        allowed = _fields(cls)

        def build(**values: object) -> object:
            return cls(**{k: v for k, v in values.items() if k in allowed})

        return build


def request_schema(api_key: int, version: int) -> KioBuilder:
    """kio's request classes of (api key, version), by name (tests, benchmarks, raw-wire tools)."""
    return KioBuilder(request_module(api_key, version), api_key, version)


def response_schema(api_key: int, version: int) -> KioBuilder:
    """kio's response classes of (api key, version), by name (tests)."""
    return KioBuilder(response_module(api_key, version), api_key, version)


def millis(value: datetime.timedelta | int) -> int:
    """kio decodes i32/i64 timedeltas to `datetime.timedelta`; Kafka means milliseconds."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return int(value)
