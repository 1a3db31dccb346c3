"""`riverlog quotas alter|describe`: client quotas, as `kafka-configs.sh --entity-type
users|clients|ips` manages them (AlterClientQuotas / DescribeClientQuotas).

    riverlog quotas alter --user alice --add-config producer_byte_rate=1048576
    riverlog quotas alter --user-default --client-id etl --add-config consumer_byte_rate=5000000
    riverlog quotas alter --ip-default --add-config connection_creation_rate=20
    riverlog quotas alter --user alice --delete-config producer_byte_rate
    riverlog quotas describe [--user alice]

Neither confluent-kafka nor kafka-python has these APIs, so this command speaks the protocol itself;
`--command-config` takes librdkafka's security settings (security.protocol, ssl.ca.location,
ssl.certificate.location, ssl.key.location, sasl.mechanism, sasl.username, sasl.password).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Annotated, Any

import typer

from riverlog.cli.client import (
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    bootstrap_addresses,
    parse_assignments,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import OutputFormat, OutputOption, print_json

app = typer.Typer(
    help="Client quotas (producer/consumer byte rates, request time).", no_args_is_help=True
)
QUOTA_KEYS = (
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
    "connection_creation_rate",
)

User = Annotated[str | None, typer.Option("--user", help="user (principal name)")]
UserDefault = Annotated[bool, typer.Option("--user-default", help="the default user")]
Client = Annotated[str | None, typer.Option("--client-id", help="client id")]
ClientDefault = Annotated[bool, typer.Option("--client-id-default", help="the default client id")]
Ip = Annotated[
    str | None, typer.Option("--ip", help="client IP address (connection_creation_rate)")
]
IpDefault = Annotated[bool, typer.Option("--ip-default", help="the default IP")]


def _security(settings: dict[str, str]) -> Any:
    from riverlog.broker.replication.peer import PeerSecurity

    protocol = settings.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise CliError(f"bad security.protocol {protocol!r}")
    if protocol == "PLAINTEXT":
        return None
    context = None
    if "SSL" in protocol:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            if "ssl.ca.location" in settings:
                context.load_verify_locations(settings["ssl.ca.location"])
            else:
                context.load_default_certs()
            if "ssl.certificate.location" in settings:
                context.load_cert_chain(
                    settings["ssl.certificate.location"], settings.get("ssl.key.location")
                )
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"bad TLS settings: {exc}") from None
        if settings.get("enable.ssl.certificate.verification", "true") == "false":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    mechanism = None
    if protocol.startswith("SASL"):
        mechanism = settings.get("sasl.mechanism", settings.get("sasl.mechanisms", "PLAIN")).upper()
        if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise CliError(f"sasl.mechanism {mechanism} is not supported here")
    return PeerSecurity(
        context, mechanism, settings.get("sasl.username", ""), settings.get("sasl.password", "")
    )


def _call(bootstrap: str, command_config: list[str] | None, request: Any) -> Any:
    from riverlog.broker.replication.peer import PeerConnection, PeerError

    settings = parse_assignments(command_config, "--command-config")
    host, port = bootstrap_addresses(settings.pop("bootstrap.servers", bootstrap))[0]
    security = _security(settings)

    async def run() -> Any:
        connection = PeerConnection(host, port, 15.0, security)
        try:
            return await connection.request(request)
        finally:
            connection.close()

    try:
        return asyncio.run(run())
    except PeerError as exc:
        raise CliError(f"cannot reach broker at {host}:{port}: {exc}") from None


def _entity(
    user: str | None,
    user_default: bool,
    client: str | None,
    client_default: bool,
    ip: str | None = None,
    ip_default: bool = False,
) -> list[tuple[str, str | None]]:
    if (
        (user is not None and user_default)
        or (client is not None and client_default)
        or (ip is not None and ip_default)
    ):
        raise CliError("give a name or --*-default for each entity type, not both")
    parts: list[tuple[str, str | None]] = []
    if user is not None or user_default:
        parts.append(("user", user))
    if client is not None or client_default:
        parts.append(("client-id", client))
    if ip is not None or ip_default:
        if parts:
            raise CliError("--ip / --ip-default cannot be combined with --user or --client-id")
        parts.append(("ip", ip))
    return parts


@app.command("alter")
def alter(
    user: User = None,
    user_default: UserDefault = False,
    client_id: Client = None,
    client_id_default: ClientDefault = False,
    ip: Ip = None,
    ip_default: IpDefault = False,
    add_config: Annotated[
        list[str] | None, typer.Option("--add-config", help="KEY=VALUE (repeatable)")
    ] = None,
    delete_config: Annotated[
        list[str] | None, typer.Option("--delete-config", help="KEY (repeatable)")
    ] = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Set or remove quotas of a user and/or client id (or their defaults)."""
    from riverlog.broker.responses import request_schema

    parts = _entity(user, user_default, client_id, client_id_default, ip, ip_default)
    if not parts:
        raise CliError(
            "name an entity: --user, --user-default, --client-id, --client-id-default, --ip or "
            "--ip-default"
        )
    schema = request_schema(49, 1)
    ops = []
    for key, value in parse_assignments(add_config, "--add-config").items():
        if key not in QUOTA_KEYS:
            raise CliError(f"unknown quota {key!r}: use {', '.join(QUOTA_KEYS)}")
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"bad value {value!r} for {key}: expected a number") from None
        ops.append(schema.OpData(key=key, value=number, remove=False))
    for key in delete_config or []:
        ops.append(schema.OpData(key=key, value=0.0, remove=True))
    if not ops:
        raise CliError("nothing to change: pass --add-config KEY=VALUE or --delete-config KEY")
    entry = schema.EntryData(
        entity=tuple(schema.EntityData(entity_type=t, entity_name=n) for t, n in parts),
        ops=tuple(ops),
    )
    response = _call(
        bootstrap,
        command_config,
        schema.AlterClientQuotasRequest(entries=(entry,), validate_only=False),
    )
    for result in response.entries:
        if result.error_code.value != 0:
            raise CliError(f"cannot alter quotas: {result.error_code.name}: {result.error_message}")
    print(f"altered quotas of {_describe_entity(parts)}")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _describe_entity(parts: list[tuple[str, str | None]]) -> str:
    return ", ".join(f"{t}={'<default>' if n is None else n}" for t, n in parts)


@app.command("describe")
def describe(
    user: User = None,
    user_default: UserDefault = False,
    client_id: Client = None,
    client_id_default: ClientDefault = False,
    ip: Ip = None,
    ip_default: IpDefault = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Quotas of every entity, or of the named user / client id / ip (tab-separated lines or
    JSON)."""
    from riverlog.broker.responses import request_schema

    schema = request_schema(48, 1)
    components = tuple(
        schema.ComponentData(entity_type=t, match_type=1 if n is None else 0, match=n)
        for t, n in _entity(user, user_default, client_id, client_id_default, ip, ip_default)
    )
    response = _call(
        bootstrap,
        command_config,
        schema.DescribeClientQuotasRequest(components=components, strict=False),
    )
    if response.error_code.value != 0:
        raise CliError(
            f"cannot describe quotas: {response.error_code.name}: {response.error_message}"
        )
    if output is OutputFormat.JSON:
        print_json(
            [
                {
                    # Kafka's entity types; a null name is the entity type's default.
                    "entity": {e.entity_type: e.entity_name for e in entry.entity},
                    "quotas": {v.key: float(v.value) for v in entry.values},
                }
                for entry in response.entries or ()
            ]
        )
        return
    for entry in response.entries or ():
        parts = [(e.entity_type, e.entity_name) for e in entry.entity]
        values = ", ".join(f"{v.key}={_number(float(v.value))}" for v in entry.values)
        print(f"{_describe_entity(parts)}\t{values}")
