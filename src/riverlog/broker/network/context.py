"""What a request handler sees: the broker's services and the request's own header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from riverlog.security.acl import CLUSTER_NAME, AclOperation, ResourceType

if TYPE_CHECKING:
    from riverlog.broker.authz import Authorizer
    from riverlog.broker.network.authn import Session
    from riverlog.broker.services import BrokerServices
    from riverlog.security.principal import KafkaPrincipal


@dataclass(slots=True)
class RequestContext:
    services: BrokerServices
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    client_host: str
    # The connection's security state (None: a connection made without a listener, as in tests).
    session: Session | None = None

    @property
    def version(self) -> int:
        return self.api_version

    @property
    def principal(self) -> KafkaPrincipal:
        from riverlog.security.principal import ANONYMOUS_PRINCIPAL

        return ANONYMOUS_PRINCIPAL if self.session is None else self.session.principal

    @property
    def listener(self) -> str | None:
        return None if self.session is None else self.session.listener.name

    @property
    def host(self) -> str:
        """The client's IP address (Kafka's ACL host)."""
        peer = self.session.peer if self.session is not None else self.client_host
        return peer.rsplit(":", 1)[0] if ":" in peer else peer

    def authorized(self, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        """Whether the authorizer lets this request's principal do `operation` on the resource
        (always, when no authorizer is configured)."""
        # getattr: handler tests run on stand-in services without an authorizer.
        authorizer: Authorizer | None = getattr(self.services, "authorizer", None)
        if authorizer is None or not authorizer.enabled:
            return True
        return authorizer.authorize(str(self.principal), self.host, operation, resource_type, name)

    def cluster_authorized(self, operation: AclOperation) -> bool:
        return self.authorized(operation, ResourceType.CLUSTER, CLUSTER_NAME)
