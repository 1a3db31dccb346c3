"""The `riverlog` command.

Sub-commands are imported only when used: `riverlog broker start` must not pay for the client commands'
imports (confluent-kafka, rich tables), nor the client commands for the broker's. `LazyCommands` maps each
name to where its typer app or function lives and builds the click command on first lookup; help output
and shell completion look every command up, so they still list all of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import CommandInfo

try:  # typer ≥ 0.26 vendors click; older releases use click itself
    from typer._click.core import Command
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.core import Command  # type: ignore[assignment]
    from click.exceptions import ClickException  # type: ignore[assignment]

from riverlog.cli.errors import CliError, fail

# name -> (module, attribute, kind): "group" is a typer app, "command" a function.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "produce": ("riverlog.cli.produce", "produce", "command"),
    "consume": ("riverlog.cli.consume", "consume", "command"),
    "broker": ("riverlog.cli.broker", "app", "group"),
    "topics": ("riverlog.cli.topics", "app", "group"),
    "log": ("riverlog.cli.log", "app", "group"),
    "groups": ("riverlog.cli.groups", "app", "group"),
    "transactions": ("riverlog.cli.transactions", "app", "group"),
    "cluster": ("riverlog.cli.cluster", "app", "group"),
    "leaders": ("riverlog.cli.cluster", "leaders_app", "group"),
    "partitions": ("riverlog.cli.partitions", "app", "group"),
    "platform": ("riverlog.cli.platform", "app", "group"),
    "registry": ("riverlog.cli.registry", "app", "group"),
    "console": ("riverlog.cli.console", "console", "command"),
    "connect": ("riverlog.cli.connect", "app", "group"),
    "certs": ("riverlog.cli.certs", "app", "group"),
    "users": ("riverlog.cli.users", "app", "group"),
    "acls": ("riverlog.cli.acls", "app", "group"),
    "quotas": ("riverlog.cli.quotas", "app", "group"),
    "sql": ("riverlog.cli.sql", "app", "group"),
    "streams": ("riverlog.cli.streams", "app", "group"),
    "labs": ("riverlog.cli.labs", "app", "group"),
}


def load_subcommand(name: str) -> Command:
    """Import the sub-command `name` and build its click command."""
    module_name, attribute, kind = SUBCOMMANDS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    command: Command
    if kind == "group":
        command = typer.main.get_group(target)
    else:
        info = CommandInfo(name=name, callback=target)
        command = typer.main.get_command_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
    command.name = name
    return command


class LazyCommands(MutableMapping[str, Command]):
    """The sub-commands by name, each built on first lookup (iteration does not load them)."""

    def __init__(self, loaded: MutableMapping[str, Command]) -> None:
        self._loaded = dict(loaded)

    def __getitem__(self, name: str) -> Command:
        command = self._loaded.get(name)
        if command is None:
            if name not in SUBCOMMANDS:
                raise KeyError(name)
            command = self._loaded[name] = load_subcommand(name)
        return command

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from SUBCOMMANDS
        yield from (name for name in self._loaded if name not in SUBCOMMANDS)

    def __len__(self) -> int:
        return len(set(SUBCOMMANDS) | set(self._loaded))


class LazyGroup(TyperGroup):
    """typer's group over `LazyCommands`."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.commands)


app = typer.Typer(
    name="riverlog",
    help="riverlog: a lightweight commit log that speaks the Kafka protocol.",
    cls=LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """riverlog: a lightweight commit log that speaks the Kafka protocol."""


def main() -> None:
    # Imported here, not at the top: the broker's config module is server code.
    from riverlog.broker.config_defs import ConfigError

    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        fail(f"{exc.format_message()} (see --help)", code=exc.exit_code)
    except typer.Abort:
        fail("aborted", code=130)
    except (ConfigError, CliError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}")
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
