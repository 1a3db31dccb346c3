"""The `riverlog` command."""

from __future__ import annotations

import typer

from riverlog.broker.config_defs import ConfigError
from riverlog.cli import broker, consume, produce, topics
from riverlog.cli.errors import CliError, fail

app = typer.Typer(
    name="riverlog",
    help="riverlog: a lightweight commit log that speaks the Kafka protocol.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(broker.app, name="broker")
app.add_typer(topics.app, name="topics")
app.command("produce")(produce.produce)
app.command("consume")(consume.consume)


def main() -> None:
    try:
        app()
    except (ConfigError, CliError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}")


if __name__ == "__main__":
    main()
