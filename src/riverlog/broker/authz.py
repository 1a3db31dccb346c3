"""The broker's authorizer: `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`
over the ACLs of the cluster image (riverlog.security.acl holds the rules).

Invariants:
- With no `authorizer.class.name` every request is allowed (Kafka without an authorizer).
- With one (Kafka's StandardAuthorizer or AclAuthorizer class names), decisions read the current
  image's ACLs, so ACLs created on any broker apply on every broker without a restart. The index is
  rebuilt only when the image's ACL set changes.
- A decision logs nothing on the hot path; denials are logged at debug level (Kafka's
  kafka.authorizer.logger logs them at INFO, which is loud).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError
from riverlog.metadata.image import AclTuple, ClusterImage
from riverlog.security.acl import (
    AUTHORIZER_CLASSES,
    AclBinding,
    AclIndex,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    parse_super_users,
)

log = logging.getLogger(__name__)


def binding_of(acl: AclTuple) -> AclBinding:
    rtype, name, pattern, principal, host, operation, permission = acl
    return AclBinding(
        ResourceType(rtype),
        name,
        PatternType(pattern),
        principal,
        host,
        AclOperation(operation),
        AclPermissionType(permission),
    )


def authorizer_enabled(config: BrokerConfig) -> bool:
    """Whether `authorizer.class.name` turns the authorizer on; ConfigError for a class we lack."""
    name = config.get_str("authorizer.class.name").strip()
    if name and name not in AUTHORIZER_CLASSES:
        raise ConfigError(
            f"authorizer.class.name: {name} is not supported; use "
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer (or leave it empty)"
        )
    return bool(name)


class Authorizer:
    def __init__(self, config: BrokerConfig, image_of: Callable[[], ClusterImage]) -> None:
        self.enabled = authorizer_enabled(config)
        self.super_users = parse_super_users(config.get_str("super.users"))
        self.allow_if_no_acls = config.get_bool("allow.everyone.if.no.acl.found")
        self.image_of = image_of
        self._acls: frozenset[AclTuple] | None = None
        self._index = AclIndex()

    def index(self) -> AclIndex:
        acls = self.image_of().acls
        if acls is not self._acls:
            self._index = AclIndex(binding_of(a) for a in acls)
            self._acls = acls
        return self._index

    def authorize(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        if not self.enabled or principal in self.super_users:
            return True
        allowed = self.index().authorize(
            principal, host, operation, resource_type, name, self.allow_if_no_acls
        )
        if not allowed:
            log.debug(
                "principal %s from %s denied %s on %s:%s",
                principal,
                host,
                operation.name,
                resource_type.name,
                name,
            )
        return allowed
