"""Compatibility levels and the check the registry runs before accepting a new version.

Confluent's levels: BACKWARD (the new schema reads data written with the latest one), FORWARD (the latest
reads data written with the new one), FULL (both), their _TRANSITIVE forms (against every earlier
version, not only the latest) and NONE. The per-format rules live in each format's `read_errors`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from riverlog.schema.types import ParsedSchema, SchemaError


class CompatibilityLevel(enum.StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, name: str) -> CompatibilityLevel:
        try:
            return cls(str(name).upper())
        except ValueError:
            raise SchemaError(f"Invalid compatibility level {name!r}") from None

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


def check(
    level: CompatibilityLevel, new: ParsedSchema, previous: Sequence[ParsedSchema]
) -> list[str]:
    """Why `new` may not follow `previous` (oldest first) under `level`; empty when it may."""
    if level is CompatibilityLevel.NONE or not previous:
        return []
    against = list(previous) if level.transitive else [previous[-1]]
    errors: list[str] = []
    for old in reversed(against):
        if level.backward:
            errors.extend(new.read_errors(old))
        if level.forward:
            errors.extend(old.read_errors(new))
        if errors:
            break
    return errors
