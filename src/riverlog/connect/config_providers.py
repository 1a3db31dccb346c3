"""Config providers (KIP-297/KIP-421): connector config values like `${file:/etc/creds.properties:password}`
are resolved when the connector and its tasks start, so secrets never sit in the config topic or REST
answers. The worker declares providers as Kafka does: `config.providers=file,env,dir` with
`config.providers.<name>.class` set to Kafka's `FileConfigProvider` (a properties file, by key),
`DirectoryConfigProvider` (a file's content, by file name in a directory) or `EnvVarConfigProvider`
(environment variables). An unresolvable reference stays as written, as Kafka leaves it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from riverlog.common.configdef import ConfigError, load_properties

_REFERENCE = re.compile(r"\$\{([^}:]+):(?:([^}:]*):)?([^}]*)\}")

Provider = Callable[[str, str], str | None]  # (path, key) -> value


def _file(path: str, key: str) -> str | None:
    try:
        return load_properties(Path(path).read_text()).get(key)
    except OSError:
        return None


def _directory(path: str, key: str) -> str | None:
    try:
        return (Path(path) / key).read_text()
    except OSError:
        return None


def _env(path: str, key: str) -> str | None:
    return os.environ.get(key)


KNOWN: dict[str, Provider] = {
    "org.apache.kafka.common.config.provider.FileConfigProvider": _file,
    "FileConfigProvider": _file,
    "org.apache.kafka.common.config.provider.DirectoryConfigProvider": _directory,
    "DirectoryConfigProvider": _directory,
    "org.apache.kafka.common.config.provider.EnvVarConfigProvider": _env,
    "EnvVarConfigProvider": _env,
}


def providers_from(names: list[str], worker_props: Mapping[str, str]) -> dict[str, Provider]:
    """The worker's providers by name; ConfigError naming the key of an unknown class."""
    out: dict[str, Provider] = {}
    for name in names:
        key = f"config.providers.{name}.class"
        cls = worker_props.get(key)
        if cls is None:
            raise ConfigError(
                key, f'Missing required configuration "{key}" which has no default value.'
            )
        provider = KNOWN.get(cls.strip())
        if provider is None:
            raise ConfigError(
                key,
                f"Invalid value {cls} for configuration {key}: only FileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider are available",
            )
        out[name] = provider
    return out


def resolve(props: Mapping[str, str], providers: Mapping[str, Provider]) -> dict[str, str]:
    """`props` with every `${provider:[path:]key}` reference replaced by its value."""
    if not providers:
        return dict(props)

    def one(match: re.Match[str]) -> str:
        provider = providers.get(match.group(1))
        if provider is None:
            return match.group(0)
        value = provider(match.group(2) or "", match.group(3))
        return match.group(0) if value is None else value

    return {
        k: _REFERENCE.sub(one, v) if isinstance(v, str) and "${" in v else v
        for k, v in props.items()
    }
