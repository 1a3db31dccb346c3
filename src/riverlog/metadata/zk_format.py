"""ZooKeeper znode paths and JSON payloads, in the layout classic (ZooKeeper-mode) Kafka uses.

Pure: no I/O. The ZooKeeper-backed metadata store (`riverlog.cluster.zk_store`) reads and writes these
znodes; the layout is Kafka's, so Kafka's own ZooKeeper tools can inspect a riverlog cluster:

    /cluster/id                                 {"version":"1","id":"<cluster id>"}
    /controller                   (ephemeral)   {"version":1,"brokerid":N,"timestamp":"<ms>"}
    /controller_epoch                           "<epoch>"
    /brokers/ids/<id>             (ephemeral)   {"version":5,"host":h,"port":p,"endpoints":[...],"rack":r,...}
    /brokers/topics/<topic>                     {"version":3,"topic_id":"<base64url>","partitions":{"0":[1,2]},...}
    /brokers/topics/<topic>/partitions/<p>/state  {"version":1,"leader":L,"leader_epoch":E,"isr":[..],
                                                   "controller_epoch":C}
    /config/topics/<topic>                      {"version":1,"config":{"k":"v"}}
    /config/brokers/<default>                   {"version":1,"config":{"k":"v"}}
    /config/users/<user>                        SCRAM credentials and user quotas
    /config/users/<user>/clients/<client-id>    quotas of a user+client-id pair
    /config/clients/<client-id>, /config/ips/<ip>   client-id quotas, ip connection rates
                                                (user, client-id and ip names sanitized as Kafka's
                                                Sanitizer does; `<default>` is the default entity)
    /latest_producer_id_block                   {"version":1,"broker":N,"block_start":"0","block_end":"999"}

Invariant: a partition state znode's ZooKeeper version is the partition epoch; every change to it is a
compare-and-set on that version, so a stale writer (an old controller, a deposed leader) always loses.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CLUSTER_ID = "/cluster/id"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
BROKER_IDS = "/brokers/ids"
TOPICS = "/brokers/topics"
TOPIC_CONFIGS = "/config/topics"
BROKER_CONFIGS = "/config/brokers"
BROKER_DEFAULT = "<default>"
PRODUCER_ID_BLOCK = "/latest_producer_id_block"
# ACLs (Kafka 3.x's AclAuthorizer layout): LITERAL under /kafka-acl/<Type>/<name>, PREFIXED under
# /kafka-acl-extended/prefixed/<Type>/<name>; each znode lists that pattern's entries.
ACL_RESOURCE_TYPES = {
    2: "Topic",
    3: "Group",
    4: "Cluster",
    5: "TransactionalId",
    6: "DelegationToken",
    7: "User",
}
ACL_ROOTS = {3: "/kafka-acl", 4: "/kafka-acl-extended/prefixed"}  # pattern type → root
ACL_LISTS = tuple(
    f"{root}/{name}" for root in ACL_ROOTS.values() for name in ACL_RESOURCE_TYPES.values()
)
ACL_OPERATIONS = {
    2: "All",
    3: "Read",
    4: "Write",
    5: "Create",
    6: "Delete",
    7: "Alter",
    8: "Describe",
    9: "ClusterAction",
    10: "DescribeConfigs",
    11: "AlterConfigs",
    12: "IdempotentWrite",
    13: "CreateTokens",
    14: "DescribeTokens",
}
ACL_PERMISSIONS = {2: "Deny", 3: "Allow"}
ACL_CHANGES = "/kafka-acl-changes"
ACL_EXTENDED_CHANGES = "/kafka-acl-extended-changes"
CLIENT_CONFIGS = "/config/clients"  # client-id quotas
IP_CONFIGS = "/config/ips"  # ip connection creation rates (KIP-612)
USER_CONFIGS = "/config/users"  # SCRAM credentials (and user quotas), Kafka's layout
CONFIG_CHANGES = "/config/changes"  # change notifications other Kafka brokers watch
PERSISTENT_PATHS = (
    BROKER_IDS,
    TOPICS,
    TOPIC_CONFIGS,
    BROKER_CONFIGS,
    "/cluster",
    USER_CONFIGS,
    CLIENT_CONFIGS,
    IP_CONFIGS,
    CONFIG_CHANGES,
    ACL_CHANGES,
    ACL_EXTENDED_CHANGES,
    *ACL_LISTS,
)


class ZkFormatError(ValueError):
    """A znode whose payload is not what Kafka writes there."""


def broker_path(broker_id: int) -> str:
    return f"{BROKER_IDS}/{broker_id}"


def topic_path(topic: str) -> str:
    return f"{TOPICS}/{topic}"


def partitions_path(topic: str) -> str:
    return f"{TOPICS}/{topic}/partitions"


def partition_path(topic: str, partition: int) -> str:
    return f"{TOPICS}/{topic}/partitions/{partition}"


def state_path(topic: str, partition: int) -> str:
    return f"{TOPICS}/{topic}/partitions/{partition}/state"


def topic_config_path(topic: str) -> str:
    return f"{TOPIC_CONFIGS}/{topic}"


def sanitize(name: str) -> str:
    """A user, client-id or ip name as Kafka's `Sanitizer.sanitize` puts it in a znode path: URL
    encoding (Java's URLEncoder: letters, digits and `.-_` kept), with `*` as %2A and space as %20."""
    out = []
    for char in name:
        if char.isascii() and (char.isalnum() or char in ".-_"):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode())
    return "".join(out)


def desanitize(name: str) -> str:
    """The name a sanitized znode name stands for (Kafka's `Sanitizer.desanitize`)."""
    return urllib.parse.unquote(name, errors="strict")


def user_config_path(user: str) -> str:
    return f"{USER_CONFIGS}/{sanitize(user)}"


DEFAULT_ENTITY = "<default>"
QUOTA_CONFIG_KEYS = frozenset(
    {"producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"}
)
IP_QUOTA_CONFIG_KEYS = frozenset({"connection_creation_rate"})


def _entity_leaf(name: str | None) -> str:
    return DEFAULT_ENTITY if name is None else sanitize(name)


def entity_name(leaf: str) -> str | None:
    """The entity name of a znode name (None for `<default>`)."""
    return None if leaf == DEFAULT_ENTITY else desanitize(leaf)


def user_clients_path(sanitized_user: str) -> str:
    """The list of a user's client-id quota znodes (`/config/users/<user>/clients`)."""
    return f"{USER_CONFIGS}/{sanitized_user}/clients"


def quota_path(entity: Sequence[tuple[str, str | None]]) -> tuple[str, str]:
    """(znode path, change-notification entity path) of a quota entity: user, client-id, a
    user+client-id pair (sorted by type: client-id first) or an ip, as Kafka's AdminZkClient."""
    names = dict(entity)
    if "ip" in names:
        relative = f"ips/{_entity_leaf(names['ip'])}"
    elif "user" in names and "client-id" in names:
        user, client = _entity_leaf(names["user"]), _entity_leaf(names["client-id"])
        relative = f"users/{user}/clients/{client}"
    elif "user" in names:
        relative = f"users/{_entity_leaf(names['user'])}"
    else:
        relative = f"clients/{_entity_leaf(names['client-id'])}"
    return f"/config/{relative}", relative


def acl_path(resource_type: int, pattern_type: int, name: str) -> str:
    return f"{ACL_ROOTS[pattern_type]}/{ACL_RESOURCE_TYPES[resource_type]}/{name}"


def acl_list_of(path: str) -> tuple[int, int] | None:
    """(resource type, pattern type) of an ACL list path, or None."""
    for pattern, root in ACL_ROOTS.items():
        for code, name in ACL_RESOURCE_TYPES.items():
            if path == f"{root}/{name}":
                return code, pattern
    return None


AclEntry = tuple[str, str, int, int]  # principal, host, operation, permission


def encode_acls(entries: Sequence[AclEntry]) -> bytes:
    return _dump(
        {
            "version": 1,
            "acls": [
                {
                    "principal": principal,
                    "permissionType": ACL_PERMISSIONS[permission],
                    "operation": ACL_OPERATIONS[operation],
                    "host": host,
                }
                for principal, host, operation, permission in sorted(entries)
            ],
        }
    )


def decode_acls(what: str, data: bytes) -> list[AclEntry]:
    if not data:
        return []
    operations = {v: k for k, v in ACL_OPERATIONS.items()}
    permissions = {v: k for k, v in ACL_PERMISSIONS.items()}
    entries = []
    for entry in _load(data, what).get("acls") or []:
        try:
            entries.append(
                (
                    str(entry["principal"]),
                    str(entry["host"]),
                    operations[entry["operation"]],
                    permissions[entry["permissionType"]],
                )
            )
        except (KeyError, TypeError) as exc:
            raise ZkFormatError(f"{what}: bad ACL entry {entry!r}: {exc}") from None
    return entries


def encode_acl_change(resource_type: int, pattern_type: int, name: str) -> tuple[str, bytes]:
    """Where and what to write so Kafka brokers re-read a resource's ACLs."""
    type_name = ACL_RESOURCE_TYPES[resource_type]
    if pattern_type == 3:
        return f"{ACL_CHANGES}/acl_changes_", f"{type_name}:{name}".encode()
    body = {"version": 1, "resourceType": type_name, "name": name, "patternType": "PREFIXED"}
    return f"{ACL_EXTENDED_CHANGES}/acl-changes-", _dump(body)


def encode_config_change(entity_path: str) -> bytes:
    """A `/config/changes/config_change_<seq>` notification (Kafka's version 2 form)."""
    return _dump({"version": 2, "entity_path": entity_path})


def broker_config_path() -> str:
    return f"{BROKER_CONFIGS}/{BROKER_DEFAULT}"


def _dump(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ZkFormatError(f"{what}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ZkFormatError(f"{what}: expected a JSON object")
    return value


# --- Kafka's Uuid text form: base64url without padding ---


def encode_topic_id(topic_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(topic_id.bytes).decode().rstrip("=")


def decode_topic_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError) as exc:
        raise ZkFormatError(f"bad topic id {text!r}: {exc}") from None


# --- brokers and the controller ---


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    """`host`/`port`: the inter-broker listener; `endpoints`: (name, host, port) per listener,
    `protocols`: listener name → security protocol (Kafka's listener_security_protocol_map)."""

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    # Not part of equality: a registration is the broker's inter-broker address and rack.
    endpoints: tuple[tuple[str, str, int], ...] = field(default=(), compare=False)
    protocols: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def encode_broker(reg: BrokerRegistration, timestamp_ms: int) -> bytes:
    endpoints = reg.endpoints or (("PLAINTEXT", reg.host, reg.port),)
    protocols = dict(reg.protocols) or {"PLAINTEXT": "PLAINTEXT"}
    # Kafka writes host/port only for a PLAINTEXT listener (older readers' field), else null/-1.
    plain = [(h, p) for name, h, p in endpoints if protocols.get(name) == "PLAINTEXT"]
    value: dict[str, Any] = {
        "version": 5,
        "host": plain[0][0] if plain else None,
        "port": plain[0][1] if plain else -1,
        "jmx_port": -1,
        "timestamp": str(timestamp_ms),
        "endpoints": [f"{name}://{h}:{p}" for name, h, p in endpoints],
        "listener_security_protocol_map": protocols,
        "features": {},
    }
    if reg.rack is not None:
        value["rack"] = reg.rack
    return _dump(value)


def decode_broker(
    broker_id: int, data: bytes, inter_broker_listener: str | None = None
) -> BrokerRegistration:
    """Read a registration; its host/port become the `inter_broker_listener` endpoint's (else the
    PLAINTEXT host/port, else the first endpoint's)."""
    value = _load(data, f"broker {broker_id}")
    endpoints: list[tuple[str, str, int]] = []
    for entry in value.get("endpoints") or []:
        name, _, address = str(entry).partition("://")
        ep_host, _, ep_port = address.rpartition(":")
        if ep_port.lstrip("-").isdigit():
            endpoints.append((name, ep_host.strip("[]"), int(ep_port)))
    host, port = value.get("host"), value.get("port")
    chosen = [e for e in endpoints if e[0] == inter_broker_listener]
    if chosen:
        host, port = chosen[0][1], chosen[0][2]
    elif not host or not isinstance(port, int) or port < 0:
        if not endpoints:
            raise ZkFormatError(f"broker {broker_id}: no host, port or endpoints")
        host, port = endpoints[0][1], endpoints[0][2]
    rack = value.get("rack")
    protocols = value.get("listener_security_protocol_map") or {}
    return BrokerRegistration(
        broker_id,
        str(host),
        int(port),
        str(rack) if rack else None,
        tuple(endpoints),
        tuple((str(k), str(v)) for k, v in protocols.items()),
    )


def encode_controller(broker_id: int, timestamp_ms: int) -> bytes:
    return _dump({"version": 1, "brokerid": broker_id, "timestamp": str(timestamp_ms)})


def decode_controller(data: bytes) -> int:
    value = _load(data, "controller")
    broker_id = value.get("brokerid")
    if not isinstance(broker_id, int):
        raise ZkFormatError("controller: no brokerid")
    return broker_id


def encode_cluster_id(cluster_id: str) -> bytes:
    return _dump({"version": "1", "id": cluster_id})


def decode_cluster_id(data: bytes) -> str:
    value = _load(data, "cluster id")
    if not isinstance(value.get("id"), str):
        raise ZkFormatError("cluster id: no id")
    return str(value["id"])


# --- topics and partitions ---


Replicas = Mapping[int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    """A topic's replica assignment; during a reassignment (KIP-455) `partitions` holds the union of
    the old and new replicas and `adding`/`removing` say which ones come and go."""

    topic_id: uuid.UUID | None
    partitions: Replicas
    adding: Replicas = field(default_factory=dict)
    removing: Replicas = field(default_factory=dict)


def _replica_map(raw: Mapping[int, Sequence[int]] | None) -> dict[str, list[int]]:
    return {str(p): list(r) for p, r in sorted((raw or {}).items()) if r}


def encode_topic(
    topic_id: uuid.UUID,
    partitions: Mapping[int, Sequence[int]],
    adding: Mapping[int, Sequence[int]] | None = None,
    removing: Mapping[int, Sequence[int]] | None = None,
) -> bytes:
    return _dump(
        {
            "version": 3,
            "topic_id": encode_topic_id(topic_id),
            "partitions": {str(p): list(r) for p, r in sorted(partitions.items())},
            "adding_replicas": _replica_map(adding),
            "removing_replicas": _replica_map(removing),
        }
    )


def _decode_replicas(raw: object) -> dict[int, tuple[int, ...]]:
    if not isinstance(raw, dict):
        return {}
    return {int(p): tuple(int(b) for b in replicas) for p, replicas in raw.items()}


def decode_topic(name: str, data: bytes) -> TopicAssignment:
    value = _load(data, f"topic {name}")
    if not isinstance(value.get("partitions"), dict):
        raise ZkFormatError(f"topic {name}: no partitions")
    raw_id = value.get("topic_id")
    return TopicAssignment(
        decode_topic_id(raw_id) if raw_id else None,
        _decode_replicas(value["partitions"]),
        _decode_replicas(value.get("adding_replicas")),
        _decode_replicas(value.get("removing_replicas")),
    )


@dataclass(frozen=True, slots=True)
class LeaderAndIsr:
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int = 0


def encode_state(state: LeaderAndIsr) -> bytes:
    return _dump(
        {
            "version": 1,
            "leader": state.leader,
            "leader_epoch": state.leader_epoch,
            "isr": list(state.isr),
            "controller_epoch": state.controller_epoch,
        }
    )


def decode_state(what: str, data: bytes) -> LeaderAndIsr:
    value = _load(data, what)
    try:
        return LeaderAndIsr(
            int(value["leader"]),
            int(value["leader_epoch"]),
            tuple(int(b) for b in value["isr"]),
            int(value.get("controller_epoch", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ZkFormatError(f"{what}: {exc}") from None


# --- configs and producer ids ---


def encode_config(configs: Mapping[str, str]) -> bytes:
    return _dump({"version": 1, "config": dict(sorted(configs.items()))})


def decode_config(what: str, data: bytes) -> dict[str, str]:
    if not data:
        return {}
    raw = _load(data, what).get("config") or {}
    return {str(k): str(v) for k, v in raw.items()}


def encode_producer_id_block(broker_id: int, start: int, end: int) -> bytes:
    return _dump(
        {"version": 1, "broker": broker_id, "block_start": str(start), "block_end": str(end)}
    )


def decode_producer_id_block(data: bytes) -> int:
    """The first producer id not yet handed out (block_end + 1); 0 for an empty znode."""
    if not data:
        return 0
    return int(_load(data, "producer id block")["block_end"]) + 1
