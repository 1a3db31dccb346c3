"""`riverlog acls add|list|remove`: ACLs as `kafka-acls.sh` manages them (CreateAcls, DescribeAcls,
DeleteAcls through confluent-kafka's AdminClient, so it works against riverlog and Kafka alike).

    riverlog acls add --allow-principal User:alice --operation Read --operation Describe --topic orders
    riverlog acls add --allow-principal User:alice --consumer --topic orders --group billing
    riverlog acls list --topic orders
    riverlog acls remove --allow-principal User:alice --topic orders

Resources: --topic, --group, --transactional-id (each repeatable) and --cluster; --resource-pattern-type
literal (default for add), prefixed, match or any (default for list/remove). --producer and --consumer
are kafka-acls.sh's shortcuts (producer: WRITE, DESCRIBE and CREATE on the topics, WRITE and DESCRIBE
on transactional ids, IDEMPOTENT_WRITE on the cluster with --idempotent; consumer: READ and DESCRIBE on
the topics, READ on the groups). Hosts default to `*`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from riverlog.cli.client import (
    ADMIN_REQUEST_TIMEOUT_S,
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    kafka_errors,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import OutputFormat, OutputOption, print_json
from riverlog.cli.topics import connect

app = typer.Typer(help="ACLs, as kafka-acls.sh manages them.", no_args_is_help=True)
CLUSTER = "kafka-cluster"

Strings = list[str] | None
AllowPrincipal = Annotated[Strings, typer.Option("--allow-principal", help="e.g. User:alice")]
DenyPrincipal = Annotated[Strings, typer.Option("--deny-principal", help="e.g. User:mallory")]
AllowHost = Annotated[Strings, typer.Option("--allow-host", help="IP address (default *)")]
DenyHost = Annotated[Strings, typer.Option("--deny-host", help="IP address (default *)")]
Operation = Annotated[
    Strings, typer.Option("--operation", help="Read, Write, Create, Describe, All... (repeatable)")
]
Topic = Annotated[Strings, typer.Option("--topic")]
Group = Annotated[Strings, typer.Option("--group")]
TxnId = Annotated[Strings, typer.Option("--transactional-id")]
Cluster = Annotated[bool, typer.Option("--cluster", help="the cluster resource")]
PatternOption = Annotated[
    str | None,
    typer.Option("--resource-pattern-type", help="literal, prefixed, match or any"),
]


def _operation(name: str) -> Any:
    key = name.strip().upper().replace("-", "_")
    if key == "IDEMPOTENTWRITE":
        key = "IDEMPOTENT_WRITE"
    if key in ("DESCRIBECONFIGS", "ALTERCONFIGS", "CLUSTERACTION"):
        key = {"DESCRIBECONFIGS": "DESCRIBE_CONFIGS", "ALTERCONFIGS": "ALTER_CONFIGS"}.get(
            key, "CLUSTER_ACTION"
        )
    try:
        return AclOperation[key]
    except KeyError:
        raise CliError(f"unknown operation {name!r}") from None


def _pattern(name: str | None, default: str) -> Any:
    try:
        return ResourcePatternType[(name or default).upper()]
    except KeyError:
        raise CliError(f"unknown resource pattern type {name!r}: use literal or prefixed") from None


def _resources(
    topic: Strings, group: Strings, txn: Strings, cluster: bool
) -> list[tuple[Any, str]]:
    resources = [(ResourceType.TOPIC, t) for t in topic or []]
    resources += [(ResourceType.GROUP, g) for g in group or []]
    resources += [(ResourceType.TRANSACTIONAL_ID, t) for t in txn or []]
    if cluster:
        resources.append((ResourceType.BROKER, CLUSTER))
    return resources


def _entries(
    allow: Strings, deny: Strings, allow_host: Strings, deny_host: Strings
) -> list[tuple[str, str, Any]]:
    entries = [(p, h, AclPermissionType.ALLOW) for p in allow or [] for h in (allow_host or ["*"])]
    entries += [(p, h, AclPermissionType.DENY) for p in deny or [] for h in (deny_host or ["*"])]
    for principal, _, _ in entries:
        kind, sep, name = principal.partition(":")
        if not sep or not kind or not name:
            raise CliError(f"bad principal {principal!r}: expected TYPE:NAME, e.g. User:alice")
    return entries


def _shortcut_operations(
    resource: Any, producer: bool, consumer: bool, idempotent: bool
) -> list[Any]:
    ops: list[Any] = []
    if producer and resource == ResourceType.TOPIC:
        ops += [AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE]
    if producer and resource == ResourceType.TRANSACTIONAL_ID:
        ops += [AclOperation.WRITE, AclOperation.DESCRIBE]
    if producer and idempotent and resource == ResourceType.BROKER:
        ops += [AclOperation.IDEMPOTENT_WRITE]
    if consumer and resource == ResourceType.TOPIC:
        ops += [AclOperation.READ, AclOperation.DESCRIBE]
    if consumer and resource == ResourceType.GROUP:
        ops += [AclOperation.READ]
    return ops


@app.command("add")
def add(
    allow_principal: AllowPrincipal = None,
    deny_principal: DenyPrincipal = None,
    allow_host: AllowHost = None,
    deny_host: DenyHost = None,
    operation: Operation = None,
    topic: Topic = None,
    group: Group = None,
    transactional_id: TxnId = None,
    cluster: Cluster = False,
    resource_pattern_type: PatternOption = None,
    producer: Annotated[bool, typer.Option("--producer")] = False,
    consumer: Annotated[bool, typer.Option("--consumer")] = False,
    idempotent: Annotated[bool, typer.Option("--idempotent")] = False,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Add ACLs: one for each principal, host, operation and resource given."""
    entries = _entries(allow_principal, deny_principal, allow_host, deny_host)
    if not entries:
        raise CliError("name at least one --allow-principal or --deny-principal")
    if producer and idempotent:
        cluster = True
    resources = _resources(topic, group, transactional_id, cluster)
    if not resources:
        raise CliError("name a resource: --topic, --group, --transactional-id or --cluster")
    pattern = _pattern(resource_pattern_type, "literal")
    if pattern not in (ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED):
        raise CliError("--resource-pattern-type for add must be literal or prefixed")
    explicit = [_operation(o) for o in operation or []]
    if not explicit and not (producer or consumer):
        raise CliError("name an --operation (or use --producer / --consumer)")
    bindings = []
    for rtype, name in resources:
        ops = explicit + _shortcut_operations(rtype, producer, consumer, idempotent)
        for principal, host, permission in entries:
            for op in dict.fromkeys(ops):
                resource_pattern = (
                    pattern if rtype != ResourceType.BROKER else ResourcePatternType.LITERAL
                )
                bindings.append(
                    AclBinding(rtype, name, resource_pattern, principal, host, op, permission)
                )
    admin, _ = connect(bootstrap, command_config)
    with kafka_errors("cannot add ACLs"):
        futures: Any = admin.create_acls(bindings, request_timeout=ADMIN_REQUEST_TIMEOUT_S)
        for future in futures.values():
            future.result(timeout=ADMIN_REQUEST_TIMEOUT_S)
    for binding in bindings:
        print(_format(binding))


def _filters(
    principal: str | None,
    host: str | None,
    operation: Strings,
    topic: Strings,
    group: Strings,
    txn: Strings,
    cluster: bool,
    pattern_name: str | None,
    permission: Any,
) -> list[Any]:
    pattern = _pattern(pattern_name, "any")
    resources: list[tuple[Any, str | None]] = list(_resources(topic, group, txn, cluster))
    if not resources:
        resources = [(ResourceType.ANY, None)]
    ops = [_operation(o) for o in operation or []] or [AclOperation.ANY]
    return [
        AclBindingFilter(
            rtype,
            name,  # type: ignore[arg-type]
            pattern if rtype != ResourceType.BROKER else ResourcePatternType.ANY,
            principal,  # type: ignore[arg-type]
            host,  # type: ignore[arg-type]
            op,
            permission,
        )
        for rtype, name in resources
        for op in ops
    ]


def _format(binding: Any) -> str:
    return (
        f"{binding.restype.name}:{binding.resource_pattern_type.name}:{binding.name}\t"
        f"{binding.principal}\t{binding.host}\t{binding.operation.name}\t"
        f"{binding.permission_type.name}"
    )


@app.command("list")
def list_acls(
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    topic: Topic = None,
    group: Group = None,
    transactional_id: TxnId = None,
    cluster: Cluster = False,
    resource_pattern_type: PatternOption = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List ACLs (all, or those on the named resources / of a principal); lines or JSON."""
    admin, _ = connect(bootstrap, command_config)
    filters = _filters(
        principal, None, None, topic, group, transactional_id, cluster,
        resource_pattern_type, AclPermissionType.ANY,
    )  # fmt: skip
    seen: dict[str, Any] = {}
    for acl_filter in filters:
        with kafka_errors("cannot list ACLs"):
            future: Any = admin.describe_acls(acl_filter, request_timeout=ADMIN_REQUEST_TIMEOUT_S)
            for binding in future.result(timeout=ADMIN_REQUEST_TIMEOUT_S):
                seen[_format(binding)] = binding
    if output is OutputFormat.JSON:
        print_json([_binding_data(seen[line]) for line in sorted(seen)])
        return
    for line in sorted(seen):
        print(line)


def _binding_data(binding: Any) -> dict[str, str]:
    return {
        "resource_type": binding.restype.name,
        "pattern_type": binding.resource_pattern_type.name,
        "resource_name": binding.name,
        "principal": binding.principal,
        "host": binding.host,
        "operation": binding.operation.name,
        "permission_type": binding.permission_type.name,
    }


@app.command("remove")
def remove(
    allow_principal: AllowPrincipal = None,
    deny_principal: DenyPrincipal = None,
    allow_host: AllowHost = None,
    deny_host: DenyHost = None,
    operation: Operation = None,
    topic: Topic = None,
    group: Group = None,
    transactional_id: TxnId = None,
    cluster: Cluster = False,
    resource_pattern_type: PatternOption = None,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Remove the ACLs matching the given principals, hosts, operations and resources."""
    if not (allow_principal or deny_principal or topic or group or transactional_id or cluster):
        raise CliError("name what to remove: a principal or a resource (refusing to remove all)")
    filters = []
    for principals, hosts, permission in (
        (allow_principal, allow_host, AclPermissionType.ALLOW),
        (deny_principal, deny_host, AclPermissionType.DENY),
    ):
        for p in principals or []:
            host_list: list[Any] = list(hosts) if hosts else [None]
            for h in host_list:
                filters += _filters(
                    p, h, operation, topic, group, transactional_id, cluster,
                    resource_pattern_type, permission,
                )  # fmt: skip
    if not (allow_principal or deny_principal):
        filters = _filters(
            None, None, operation, topic, group, transactional_id, cluster,
            resource_pattern_type, AclPermissionType.ANY,
        )  # fmt: skip
    admin, _ = connect(bootstrap, command_config)
    removed = 0
    with kafka_errors("cannot remove ACLs"):
        futures: Any = admin.delete_acls(filters, request_timeout=ADMIN_REQUEST_TIMEOUT_S)
        for future in futures.values():
            for binding in future.result(timeout=ADMIN_REQUEST_TIMEOUT_S):
                removed += 1
                print(_format(binding))
    print(f"removed {removed} ACL(s)")
