"""What the long-running service commands (`registry start`, `sql server`, `connect …`, `labs …`)
share: their properties (a file, then `--set K=V` flags over it), their log format, and serving
until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from riverlog.cli.errors import CliError

__all__ = ["service_logging", "service_props", "wait_for_signal"]


def service_props(config_file: Path | None, settings: list[str]) -> dict[str, str]:
    """The properties from the file, then each `--set K=V` over them."""
    from riverlog.common.configdef import load_properties

    props: dict[str, str] = {}
    if config_file is not None:
        if not config_file.exists():
            raise CliError(f"config file {config_file} does not exist")
        props.update(load_properties(config_file.read_text()))
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"bad --set {item!r}: expected KEY=VALUE")
        props[key.strip()] = value.strip()
    return props


def service_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (Ctrl-C)."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
