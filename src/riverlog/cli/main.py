"""The `riverlog` command."""

from __future__ import annotations

import typer

try:  # typer ≥ 0.26 vendors click; older releases use click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[assignment]

from riverlog.broker.config_defs import ConfigError
from riverlog.cli import broker, consume, groups, log, produce, topics
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
app.add_typer(log.app, name="log")
app.add_typer(groups.app, name="groups")
app.command("produce")(produce.produce)
app.command("consume")(consume.consume)


def main() -> None:
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
