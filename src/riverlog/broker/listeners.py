"""Named listeners: `listeners`, `listener.security.protocol.map`, `advertised.listeners` and
`inter.broker.listener.name`, validated with Kafka's rules.

- Every listener has a name (upper case) and a security protocol from the map; the default map names
  the four protocols after themselves, so `SSL://:9093` is an SSL listener.
- Names and ports are unique (port 0, "any free port", may repeat).
- `advertised.listeners` (default: `listeners`) names a subset of the listeners; a listener that is
  not advertised keeps its own address. A host of 0.0.0.0 or empty is advertised as this machine's
  hostname, as Kafka does.
- The inter-broker listener is `inter.broker.listener.name`, else the listener named after
  `security.inter.broker.protocol` (default PLAINTEXT); it must exist. Setting both is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int
    protocol: str

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True, slots=True)
class ListenerPlan:
    """What to bind, what to advertise per listener, and which listener brokers talk on."""

    listeners: tuple[Listener, ...]
    advertised: dict[str, tuple[str, int]]
    inter_broker: str

    def listener(self, name: str) -> Listener:
        for listener in self.listeners:
            if listener.name == name:
                return listener
        raise KeyError(name)


def parse_protocol_map(text: str) -> dict[str, str]:
    """`NAME:PROTOCOL,...` → {NAME: PROTOCOL}; an unknown protocol names the key."""
    result: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, protocol = item.partition(":")
        protocol = protocol.strip().upper()
        if not sep or not name.strip() or protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"invalid entry {item!r} in listener.security.protocol.map: expected NAME:PROTOCOL "
                f"with PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        result[name.strip().upper()] = protocol
    return result


def parse_endpoints(text: str, key: str) -> list[tuple[str, str, int]]:
    """`NAME://host:port,...` (or a bare `host:port`, taken as PLAINTEXT) → [(NAME, host, port)]."""
    endpoints: list[tuple[str, str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, address = item.partition("://")
        if not sep:
            name, address = "PLAINTEXT", item
        host, colon, port = address.rpartition(":")
        if not colon or not port.isdigit() or not name:
            raise ConfigError(f"invalid listener {item!r} in {key}: expected NAME://HOST:PORT")
        endpoints.append((name.upper(), host.strip("[]"), int(port)))
    if not endpoints:
        raise ConfigError(f"{key} names no listener")
    return endpoints


def plan_listeners(config: BrokerConfig) -> ListenerPlan:
    """Validate the listener settings and return what to bind and advertise."""
    protocols = parse_protocol_map(config.get_str("listener.security.protocol.map"))
    listeners: list[Listener] = []
    for name, host, port in parse_endpoints(config.get_str("listeners"), "listeners"):
        protocol = protocols.get(name)
        if protocol is None:
            raise ConfigError(
                f"listener {name} in listeners has no security protocol: add {name}:<PROTOCOL> "
                "to listener.security.protocol.map"
            )
        if any(other.name == name for other in listeners):
            raise ConfigError(f"listeners names {name} twice")
        if port != 0 and any(other.port == port for other in listeners):
            raise ConfigError(f"listeners uses port {port} twice")
        listeners.append(Listener(name, host or "0.0.0.0", port, protocol))
    advertised_text = config.get("advertised.listeners")
    advertised: dict[str, tuple[str, int]] = {}
    if advertised_text:
        for name, host, port in parse_endpoints(str(advertised_text), "advertised.listeners"):
            if all(listener.name != name for listener in listeners):
                raise ConfigError(f"advertised.listeners names {name}, which is not in listeners")
            advertised[name] = (host, port)
    for listener in listeners:
        advertised.setdefault(listener.name, (listener.host, listener.port))
    return ListenerPlan(tuple(listeners), advertised, _inter_broker(config, listeners))


def _inter_broker(config: BrokerConfig, listeners: list[Listener]) -> str:
    named = config.get("inter.broker.listener.name")
    if named and "security.inter.broker.protocol" in config.explicit:
        raise ConfigError(
            "set only one of inter.broker.listener.name and security.inter.broker.protocol"
        )
    name = str(named).upper() if named else config.get_str("security.inter.broker.protocol")
    if all(listener.name != name for listener in listeners):
        if not named and len(listeners) == 1:
            # riverlog's convenience for a single listener: brokers talk on it (Kafka would
            # refuse to start and ask for inter.broker.listener.name).
            return listeners[0].name
        key = "inter.broker.listener.name" if named else "security.inter.broker.protocol"
        raise ConfigError(f"{key}: no listener named {name} in listeners")
    return name
