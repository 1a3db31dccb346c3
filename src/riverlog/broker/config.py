"""The broker's configuration: Kafka's names from a file, the environment and flags.

Sources, lowest precedence first: Kafka's defaults (`config_defs`), a `.properties` or `.toml` file,
environment variables `RIVERLOG_<NAME>` (dots become underscores, e.g. `RIVERLOG_LOG_RETENTION_MS`), then
`--set key=value` flags. Unknown keys and invalid values raise `ConfigError` naming the key, so a broker
never starts on a typo. Dynamic broker configs (AlterConfigs on the broker resource) are layered on top at
run time by `set_dynamic`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from riverlog.broker.config_defs import (
    BROKER_CONFIGS,
    LISTENER_OVERRIDABLE,
    TOPIC_CONFIGS,
    ConfigDef,
    ConfigError,
    listener_setting_name,
)

ENV_PREFIX = "RIVERLOG_"
# The project's own test knobs (`make chaos`), not broker configs.
TOOLING_ENV_PREFIXES = ("RIVERLOG_CHAOS",)
_ENV_NAMES = {name.replace(".", "_").upper(): name for name in BROKER_CONFIGS}


def read_config_file(path: Path) -> dict[str, str]:
    """Read Kafka's `server.properties` format, or TOML (flat or nested tables joined by dots)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if path.suffix == ".toml":
        try:
            return dict(_flatten(tomllib.loads(text)))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return _parse_properties(text, path)


def _flatten(table: Mapping[str, object], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, bool):
            yield name, str(value).lower()
        else:
            yield name, str(value)


def _parse_properties(text: str, path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep <= 0:
            raise ConfigError(f"{path}:{number}: expected key=value, got {line!r}")
        values[line[:sep].strip()] = line[sep + 1 :].strip()
    return values


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Parse `key=value` flags."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var.startswith(TOOLING_ENV_PREFIXES):
            continue
        name = _ENV_NAMES.get(var[len(ENV_PREFIX) :])
        if name is None:
            raise ConfigError(f"unknown config in environment variable {var}")
        values[name] = value
    return values


@dataclass
class BrokerConfig:
    """Validated broker settings: `explicit` holds what the user set (string values, Kafka names)."""

    explicit: dict[str, str] = field(default_factory=dict)
    dynamic: dict[str, str] = field(default_factory=dict)
    _parsed: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.explicit.items():
            self._parsed[name] = _parse(name, value)

    @classmethod
    def load(
        cls,
        file: Path | None = None,
        overrides: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> BrokerConfig:
        values: dict[str, str] = {}
        if file is not None:
            values.update(read_config_file(file))
        values.update(env_overrides(os.environ if environ is None else environ))
        values.update(overrides or {})
        return cls(explicit=values)

    def get(self, name: str) -> object:
        """The effective value of a broker config (dynamic, then explicit, then default)."""
        if name in self.dynamic:
            return _parse(name, self.dynamic[name])
        if name in self._parsed:
            return self._parsed[name]
        default = BROKER_CONFIGS[name].default
        return None if default is None else _parse(name, default)

    def get_int(self, name: str) -> int:
        value = self.get(name)
        assert isinstance(value, int), name
        return value

    def get_str(self, name: str) -> str:
        value = self.get(name)
        return "" if value is None else str(value)

    def get_bool(self, name: str) -> bool:
        return bool(self.get(name))

    def for_listener(self, listener: str, name: str) -> object:
        """A setting as one listener sees it: `listener.name.<listener>.<name>` if set, else the
        broker-wide value (Kafka's per-listener override rule)."""
        for key, value in self._parsed.items():  # start-up only; the listener part in any case
            split = listener_setting_name(key)
            if split is not None and split == (listener.upper(), name):
                return value
        if name in BROKER_CONFIGS:
            return self.get(name)
        return self._parsed.get(name)

    def for_listener_str(self, listener: str, name: str) -> str | None:
        value = self.for_listener(listener, name)
        return None if value is None else str(value)

    def source(self, name: str) -> str:
        if name in self.dynamic:
            return "DYNAMIC_DEFAULT_BROKER_CONFIG"
        if name in self.explicit:
            return "STATIC_BROKER_CONFIG"
        return "DEFAULT_CONFIG"

    def set_dynamic(self, name: str, value: str | None) -> None:
        if value is None:
            self.dynamic.pop(name, None)
            return
        _parse(name, value)
        self.dynamic[name] = value

    # --- derived settings, each with Kafka's precedence rules ---

    @property
    def broker_id(self) -> int:
        node_id = self.get("node.id")
        return node_id if isinstance(node_id, int) else self.get_int("broker.id")

    @property
    def data_dir(self) -> Path:
        dirs = self.get("log.dirs")
        first = str(dirs).split(",")[0].strip() if dirs else self.get_str("log.dir")
        return Path(first)

    @property
    def listener(self) -> tuple[str, int]:
        return parse_listener(self.get_str("listeners"))

    @property
    def advertised_listener(self) -> tuple[str, int]:
        advertised = self.get("advertised.listeners")
        return parse_listener(str(advertised)) if advertised else self.listener

    def retention_ms(self) -> int:
        for name, factor in (
            ("log.retention.ms", 1),
            ("log.retention.minutes", 60_000),
            ("log.retention.hours", 3_600_000),
        ):
            value = self.get(name)
            if isinstance(value, int):
                return value if value < 0 else value * factor
        return 604_800_000

    def topic_default(self, topic_config: str) -> str:
        """The broker-supplied default for a topic config, as a string (Kafka's synonym chain)."""
        definition, synonym = TOPIC_CONFIGS[topic_config]
        if topic_config == "retention.ms":
            return str(self.retention_ms())
        if topic_config == "segment.ms":
            roll = self.get("log.roll.ms")
            return str(
                roll if isinstance(roll, int) else self.get_int("log.roll.hours") * 3_600_000
            )
        if topic_config == "flush.ms":
            flush = self.get("log.flush.interval.ms")
            return str(
                flush if isinstance(flush, int) else self.get_int("log.flush.scheduler.interval.ms")
            )
        if synonym is not None and synonym in BROKER_CONFIGS:
            value = self.get(synonym)
            if value is not None:
                return str(value).lower() if isinstance(value, bool) else str(value)
        assert definition.default is not None
        return definition.default

    def topic_default_source(self, topic_config: str) -> str:
        _, synonym = TOPIC_CONFIGS[topic_config]
        if synonym and synonym in BROKER_CONFIGS:
            source = self.source(synonym)
            if source != "DEFAULT_CONFIG":
                return source
        return "DEFAULT_CONFIG"


def parse_listener(text: str) -> tuple[str, int]:
    """`PLAINTEXT://host:port` or `host:port` → (host, port)."""
    first = text.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"invalid listener {text!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _parse(name: str, value: str) -> object:
    definition: ConfigDef | None = BROKER_CONFIGS.get(name) or _listener_definition(name)
    if definition is None:
        raise ConfigError(f"unknown config {name!r}")
    try:
        return definition.parse(value)
    except ValueError as exc:
        raise ConfigError(f"invalid value {value!r} for config {name!r}: {exc}") from None


def _listener_definition(name: str) -> ConfigDef | None:
    """The definition behind `listener.name.<l>.<setting>` (or an unprefixed `<mechanism>.sasl.jaas.
    config`); None when the setting may not be set per listener."""
    split = listener_setting_name(name)
    setting = name if split is None else split[1]
    if setting.endswith(".sasl.jaas.config"):
        return BROKER_CONFIGS["sasl.jaas.config"]
    if split is None:
        return None
    definition = BROKER_CONFIGS.get(setting)
    if definition is None or not setting.startswith(LISTENER_OVERRIDABLE):
        return None
    return definition
