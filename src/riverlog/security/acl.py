"""ACLs and the authorization decision, with Kafka's codes and rules (StandardAuthorizer/AclAuthorizer).

An ACL binds a resource pattern (type, name, LITERAL or PREFIXED) to an entry (principal, host,
operation, ALLOW/DENY). A request by `principal` from `host` to do `operation` on a resource is:
1. allowed for a super user;
2. denied if any matching DENY entry names the operation (or ALL);
3. allowed if any matching ALLOW entry names the operation, ALL, or an operation that implies it
   (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS);
4. otherwise allowed only when no ACL at all matches the resource and
   `allow.everyone.if.no.acl.found` is true.
A pattern matches a resource when it is LITERAL with the same name or the wildcard `*`, or PREFIXED
with a prefix of the name; an entry matches when its principal is the principal or `User:*` and its
host is the host or `*`.

`AclIndex` is an immutable index over a set of bindings: a decision looks up the literal name, the
wildcard and each prefix of the name, so its cost does not grow with the number of ACLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_NAME = "kafka-cluster"  # the one CLUSTER resource's name

# What ALLOW on the key also grants (Kafka's implication rules).
_IMPLIED_BY: Mapping[AclOperation, frozenset[AclOperation]] = {
    AclOperation.DESCRIBE: frozenset(
        {AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER}
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.ALTER_CONFIGS}),
}

# The operations each resource type supports (Kafka's table; DescribeAcls/CreateAcls check it).
SUPPORTED_OPERATIONS: Mapping[ResourceType, frozenset[AclOperation]] = {
    ResourceType.TOPIC: frozenset(
        {
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.CREATE,
            AclOperation.DESCRIBE,
            AclOperation.DELETE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
        }
    ),
    ResourceType.GROUP: frozenset({AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}),
    ResourceType.CLUSTER: frozenset(
        {
            AclOperation.CREATE,
            AclOperation.CLUSTER_ACTION,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.IDEMPOTENT_WRITE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE,
        }
    ),
    ResourceType.TRANSACTIONAL_ID: frozenset({AclOperation.DESCRIBE, AclOperation.WRITE}),
    ResourceType.DELEGATION_TOKEN: frozenset({AclOperation.DESCRIBE}),
    ResourceType.USER: frozenset({AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS}),
}


class AclError(ValueError):
    """An ACL or filter that cannot be stored or used; the message says why (Kafka's wording)."""


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: AclOperation
    permission: AclPermissionType

    def validate(self) -> None:
        """Kafka's checks for a binding to be created."""
        if self.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise AclError("resource type must be a specific type")
        if self.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
            raise AclError("pattern type must be LITERAL or PREFIXED")
        if self.operation in (AclOperation.ANY, AclOperation.UNKNOWN):
            raise AclError("operation must be a specific operation")
        if self.permission not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
            raise AclError("permission type must be ALLOW or DENY")
        if not self.resource_name:
            raise AclError("resource name must not be empty")
        if self.resource_type == ResourceType.CLUSTER and self.resource_name != CLUSTER_NAME:
            raise AclError(f"the CLUSTER resource's name must be {CLUSTER_NAME}")
        if self.pattern_type == PatternType.PREFIXED and self.resource_name == WILDCARD:
            raise AclError("a PREFIXED pattern cannot be the wildcard '*'")
        kind, sep, name = self.principal.partition(":")
        if not sep or not kind or not name:
            raise AclError(f"invalid principal {self.principal!r}: expected TYPE:NAME")
        if not self.host:
            raise AclError("host must not be empty (use '*' for any host)")
        supported = SUPPORTED_OPERATIONS.get(self.resource_type, frozenset())
        if self.operation != AclOperation.ALL and self.operation not in supported:
            raise AclError(
                f"operation {self.operation.name} is not supported on {self.resource_type.name}"
            )


@dataclass(frozen=True, slots=True)
class AclFilter:
    """Kafka's AclBindingFilter: ANY/None match everything; MATCH pattern type matches every
    pattern (literal, wildcard or prefixed) that applies to the named resource."""

    resource_type: ResourceType = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = AclOperation.ANY
    permission: AclPermissionType = AclPermissionType.ANY

    def validate(self) -> None:
        for value, enum in (
            (self.resource_type, ResourceType),
            (self.pattern_type, PatternType),
            (self.operation, AclOperation),
            (self.permission, AclPermissionType),
        ):
            if value == enum.UNKNOWN:  # type: ignore[attr-defined]
                raise AclError(f"filter contains UNKNOWN {enum.__name__}")

    def matches(self, binding: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and binding.resource_type != self.resource_type:
            return False
        if not self._pattern_matches(binding):
            return False
        if self.principal is not None and binding.principal != self.principal:
            return False
        if self.host is not None and binding.host != self.host:
            return False
        if self.operation != AclOperation.ANY and binding.operation != self.operation:
            return False
        return self.permission == AclPermissionType.ANY or binding.permission == self.permission

    def _pattern_matches(self, binding: AclBinding) -> bool:
        name = self.resource_name
        if self.pattern_type == PatternType.MATCH:
            if name is None:
                return True
            if binding.pattern_type == PatternType.LITERAL:
                return binding.resource_name in (name, WILDCARD)
            return name.startswith(binding.resource_name)
        if self.pattern_type != PatternType.ANY and binding.pattern_type != self.pattern_type:
            return False
        return name is None or binding.resource_name == name


# A resource pattern's entries by principal: principal -> ((host, operation code, allow), ...).
# Codes are plain ints inside the index: hashing and comparing IntEnum members costs a Python call.
_ByPrincipal = dict[str, tuple[tuple[str, int, bool], ...]]
_ALL = int(AclOperation.ALL)
_IMPLIED_CODES: dict[int, frozenset[int]] = {
    int(op): frozenset(int(i) for i in implied) for op, implied in _IMPLIED_BY.items()
}
_NO_CODES: frozenset[int] = frozenset()


class AclIndex:
    """Bindings indexed for decisions (see the module docstring): per resource pattern, the entries
    of each principal, so a decision reads only the entries of the principal and of `User:*`."""

    def __init__(self, bindings: Iterable[AclBinding] = ()) -> None:
        self.bindings = frozenset(bindings)
        literal: dict[tuple[int, str], dict[str, list[tuple[str, int, bool]]]] = {}
        prefixed: dict[tuple[int, str], dict[str, list[tuple[str, int, bool]]]] = {}
        lengths: dict[int, set[int]] = {}
        for b in self.bindings:
            entry = (b.host, int(b.operation), b.permission == AclPermissionType.ALLOW)
            rtype = int(b.resource_type)
            if b.pattern_type == PatternType.PREFIXED:
                table = prefixed
                lengths.setdefault(rtype, set()).add(len(b.resource_name))
            else:
                table = literal
            table.setdefault((rtype, b.resource_name), {}).setdefault(b.principal, []).append(entry)
        self._literal: dict[tuple[int, str], _ByPrincipal] = {
            key: {p: tuple(e) for p, e in by.items()} for key, by in literal.items()
        }
        self._prefixed: dict[tuple[int, str], _ByPrincipal] = {
            key: {p: tuple(e) for p, e in by.items()} for key, by in prefixed.items()
        }
        self._prefix_lengths = {t: tuple(sorted(ls)) for t, ls in lengths.items()}

    def __len__(self) -> int:
        return len(self.bindings)

    def authorize(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
        allow_if_no_acls: bool = False,
    ) -> bool:
        rtype = int(resource_type)
        op = int(operation)
        # The patterns that apply: the literal name, the wildcard, every prefix of the name.
        patterns = []
        literal = self._literal
        if literal:
            exact = literal.get((rtype, name))
            if exact is not None:
                patterns.append(exact)
            wildcard = literal.get((rtype, WILDCARD))
            if wildcard is not None:
                patterns.append(wildcard)
        lengths = self._prefix_lengths.get(rtype)
        if lengths:
            prefixed = self._prefixed
            size = len(name)
            for length in lengths:
                if length > size:
                    break
                entries = prefixed.get((rtype, name[:length]))
                if entries is not None:
                    patterns.append(entries)
        if not patterns:
            return allow_if_no_acls
        implied = _IMPLIED_CODES.get(op, _NO_CODES)
        allowed = False
        for by_principal in patterns:
            for who in (principal, WILDCARD_PRINCIPAL):
                found = by_principal.get(who)
                if found is None:
                    continue
                for entry_host, entry_op, allow in found:
                    if entry_host != host and entry_host != WILDCARD:
                        continue
                    if not allow:
                        if entry_op in (op, _ALL):
                            return False
                    elif entry_op in (op, _ALL) or entry_op in implied:
                        allowed = True
        return allowed


def parse_super_users(text: str | None) -> frozenset[str]:
    """`super.users`: principals separated by semicolons (`User:admin;User:CN=broker,O=x`)."""
    return frozenset(p.strip() for p in (text or "").split(";") if p.strip())


# Kafka's authorizer class names that turn the authorizer on.
AUTHORIZER_CLASSES = frozenset(
    {
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "kafka.security.authorizer.AclAuthorizer",
        "kafka.security.auth.SimpleAclAuthorizer",
    }
)
