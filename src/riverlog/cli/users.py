"""`riverlog users create|delete|list`: SCRAM users, as `kafka-configs.sh --entity-type users
--alter --add-config 'SCRAM-SHA-256=[password=...]'` does, through AlterUserScramCredentials and
DescribeUserScramCredentials (works against riverlog and Kafka alike).

The password is salted and hashed on this side (confluent-kafka does it); only the salted form goes
over the wire. Without --password the password is asked for on the terminal.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    kafka_errors,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import OutputFormat, OutputOption, print_json, stdout_console
from riverlog.cli.topics import connect

app = typer.Typer(help="SCRAM users (SASL/SCRAM-SHA-256 and -512).", no_args_is_help=True)

MECHANISMS = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}
MechanismOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mechanism", "-m", help="SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)"
    ),
]


def _mechanisms(names: list[str] | None) -> list[Any]:
    chosen = names or list(MECHANISMS)
    unknown = [n for n in chosen if n.upper() not in MECHANISMS]
    if unknown:
        raise CliError(f"unknown mechanism {unknown[0]!r}: use {' or '.join(MECHANISMS)}")
    return [MECHANISMS[n.upper()] for n in dict.fromkeys(chosen)]


def _wait(futures: dict[str, Any], action: str) -> None:
    for user, future in futures.items():
        with kafka_errors(f"cannot {action} user {user!r}"):
            future.result(timeout=ADMIN_REQUEST_TIMEOUT_S)


@app.command("create")
def create(
    user: Annotated[str, typer.Argument(help="user name")],
    password: Annotated[
        str | None, typer.Option(help="the password (asked for when not given)")
    ] = None,
    mechanism: MechanismOption = None,
    iterations: Annotated[int, typer.Option(help="PBKDF2 iterations (4096..16384)")] = 4096,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Create a SCRAM user, or change its password."""
    mechanisms = _mechanisms(mechanism)
    if not 4096 <= iterations <= 16384:
        raise CliError("--iterations must be between 4096 and 16384")
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise CliError("the password must not be empty")
    admin, _ = connect(bootstrap, command_config)
    changes: list[Any] = [
        UserScramCredentialUpsertion(user, ScramCredentialInfo(m, iterations), password.encode())
        for m in mechanisms
    ]
    _wait(admin.alter_user_scram_credentials(changes), "create")
    print(f"user {user!r}: {', '.join(m.name.replace('_', '-') for m in mechanisms)}")


@app.command("delete")
def delete(
    user: Annotated[str, typer.Argument(help="user name")],
    mechanism: MechanismOption = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete a user's SCRAM credentials (all of them unless --mechanism is given)."""
    admin, _ = connect(bootstrap, command_config)
    with kafka_errors(f"cannot describe user {user!r}"):
        futures: Any = admin.describe_user_scram_credentials([user])
        described = futures[user].result(timeout=ADMIN_REQUEST_TIMEOUT_S)
    have = {info.mechanism for info in described.scram_credential_infos}
    wanted = [m for m in _mechanisms(mechanism) if m in have] if mechanism else list(have)
    if not wanted:
        raise CliError(f"user {user!r} has no such credential")
    deletions: list[Any] = [UserScramCredentialDeletion(user, m) for m in wanted]
    _wait(admin.alter_user_scram_credentials(deletions), "delete")
    print(f"deleted {', '.join(m.name.replace('_', '-') for m in wanted)} of user {user!r}")


@app.command("list")
def list_users(
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Every SCRAM user with its mechanisms and iterations (tab-separated lines or JSON)."""
    admin, _ = connect(bootstrap, command_config)
    with kafka_errors("cannot list users"):
        future: Any = admin.describe_user_scram_credentials()
        described = future.result(timeout=ADMIN_REQUEST_TIMEOUT_S)
    if output is OutputFormat.JSON:
        print_json(
            [
                {
                    "user": user,
                    "credentials": [
                        {
                            "mechanism": info.mechanism.name.replace("_", "-"),
                            "iterations": info.iterations,
                        }
                        for info in described[user].scram_credential_infos
                    ],
                }
                for user in sorted(described)
            ]
        )
        return
    console = stdout_console()
    for user in sorted(described):
        infos = ", ".join(
            f"{info.mechanism.name.replace('_', '-')} (iterations={info.iterations})"
            for info in described[user].scram_credential_infos
        )
        console.print(f"{user}\t{infos}", markup=False, highlight=False)
