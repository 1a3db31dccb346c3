"""Configuration declared as data, after Kafka's `ConfigDef`.

One declaration per key — name, type, default, validator, importance, doc — feeds validation at start
(unknown or invalid keys fail naming the key), Connect's `/config` and `/validate` answers, and the docs.
Values arrive as strings (properties files, REST payloads, `--set K=V`) or as Python values; `parse`
turns them into typed values once. Prefixed pass-through keys (`producer.`, `consumer.`, `ksql.streams.`
…) are accepted when the caller names the prefixes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """An unknown or invalid configuration key or value; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.reason = message


class Type(enum.Enum):
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()

Validator = Callable[[str, Any], None]  # raises ValueError with a message on a bad value


def in_range(low: float | None = None, high: float | None = None) -> Validator:
    """Kafka's `Range.between` / `atLeast`."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if low is not None and value < low:
            raise ValueError(f"Value must be at least {low}")
        if high is not None and value > high:
            raise ValueError(f"Value must be no more than {high}")

    return check


def one_of(*choices: str, case_sensitive: bool = True) -> Validator:
    """Kafka's `ValidString.in` / `CaseInsensitiveValidString.in`."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        probe = value if case_sensitive else str(value).lower()
        allowed = choices if case_sensitive else tuple(c.lower() for c in choices)
        if probe not in allowed:
            raise ValueError(f"String must be one of: {', '.join(choices)}")

    return check


_TRUE = {"true"}
_FALSE = {"false"}


def _convert(key: ConfigKey, value: Any) -> Any:
    """A string or Python value -> the key's type; ValueError with Kafka's wording when it cannot."""
    if value is None:
        return None
    kind = key.type
    if kind is Type.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("Expected value to be either true or false")
    if kind in (Type.INT, Type.SHORT, Type.LONG):
        if isinstance(value, bool):
            raise ValueError(f"Expected value to be a {kind.value.lower()} number")
        try:
            return int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ValueError(f"Not a number of type {kind.value}") from None
    if kind is Type.DOUBLE:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("Not a number of type DOUBLE") from None
    if kind is Type.CLASS and not isinstance(value, str):
        return value  # a class or object given directly (Kafka's CLASS accepts a Class too)
    if kind is Type.LIST:
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value]
        text = str(value).strip()
        return [part.strip() for part in text.split(",")] if text else []
    return str(value) if not isinstance(value, str) else value.strip()


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: Type
    default: Any = NO_DEFAULT
    validator: Validator | None = None
    importance: Importance = Importance.MEDIUM
    doc: str = ""
    group: str | None = None
    order_in_group: int = -1
    display_name: str | None = None
    dependents: tuple[str, ...] = ()

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def parse(self, raw: Any) -> Any:
        """The typed value of `raw`; raises ConfigError naming the key."""
        try:
            value = _convert(self, raw)
            if self.validator is not None:
                self.validator(self.name, value)
        except ValueError as exc:
            raise ConfigError(
                self.name, f"Invalid value {raw} for configuration {self.name}: {exc}"
            ) from None
        return value


@dataclass
class ConfigDef:
    """An ordered table of `ConfigKey`s."""

    keys: dict[str, ConfigKey] = field(default_factory=dict)

    def define(
        self,
        name: str,
        type: Type,
        default: Any = NO_DEFAULT,
        validator: Validator | None = None,
        importance: Importance = Importance.MEDIUM,
        doc: str = "",
        **extra: Any,
    ) -> ConfigDef:
        """Declare a key (chainable, as Kafka's `define`)."""
        if name in self.keys:
            raise ValueError(f"Configuration {name} is defined twice")
        self.keys[name] = ConfigKey(name, type, default, validator, importance, doc, **extra)
        return self

    def merge(self, other: ConfigDef) -> ConfigDef:
        """A new table with this one's keys, then `other`'s (other wins on a clash)."""
        return ConfigDef({**self.keys, **other.keys})

    def __contains__(self, name: object) -> bool:
        return name in self.keys

    def parse(
        self,
        props: Mapping[str, Any],
        *,
        prefixes: Iterable[str] = (),
        allow_unknown: bool = False,
    ) -> dict[str, Any]:
        """Every declared key's typed value (defaults filled in), plus prefixed pass-through keys as given.

        Raises ConfigError naming the first unknown key (unless `allow_unknown`, when unknown keys are kept
        as given), the first invalid value, or the first missing required key.
        """
        prefixes = tuple(prefixes)
        out: dict[str, Any] = {}
        for name, raw in props.items():
            key = self.keys.get(name)
            if key is not None:
                out[name] = key.parse(raw)
            elif allow_unknown or name.startswith(prefixes):
                out[name] = raw
            else:
                raise ConfigError(name, f"Unknown configuration '{name}'")
        for name, key in self.keys.items():
            if name in out:
                continue
            if not key.has_default:
                raise ConfigError(
                    name, f'Missing required configuration "{name}" which has no default value.'
                )
            # a default is typed like a given value (Kafka's ConfigDef parses defaults too)
            out[name] = _convert(key, key.default)
        return out

    def validate(self, props: Mapping[str, Any]) -> dict[str, list[str]]:
        """Per declared key, its error messages (empty when valid), as Connect's `/validate` reports."""
        errors: dict[str, list[str]] = {name: [] for name in self.keys}
        for name, key in self.keys.items():
            if name not in props:
                if not key.has_default:
                    errors[name].append(
                        f'Missing required configuration "{name}" which has no default value.'
                    )
                continue
            try:
                key.parse(props[name])
            except ConfigError as exc:
                errors[name].append(exc.reason)
        return errors


def load_properties(text: str) -> dict[str, str]:
    """Java `.properties` text -> dict (comments `#`/`!`, `=` or `:` separators, `\\` continuations)."""
    out: dict[str, str] = {}
    pending = ""
    for raw_line in text.splitlines():
        line = raw_line.strip() if not pending else raw_line.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        line = pending + line
        pending = ""
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            key, value = line.strip(), ""
        else:
            key, value = line[:sep].strip(), line[sep + 1 :].strip()
        out[key] = value
    if pending:
        sep = pending.find("=")
        out[pending[:sep].strip()] = pending[sep + 1 :].strip()
    return out
