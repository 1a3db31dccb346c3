"""Authorization decisions with Kafka's rules, checked against a plain model over random ACL sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.security.acl import (
    AclBinding,
    AclError,
    AclFilter,
    AclIndex,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
TOPIC = ResourceType.TOPIC
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
Op = AclOperation


def acl(name, principal="User:alice", op=Op.READ, perm=ALLOW, pattern=LIT, host="*", rtype=TOPIC):
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def allowed(index, op=Op.READ, name="orders", principal="User:alice", host="10.0.0.1", **kw):
    return index.authorize(principal, host, op, TOPIC, name, **kw)


def test_no_acls_denies_unless_allow_everyone() -> None:
    assert not allowed(AclIndex())
    assert allowed(AclIndex(), allow_if_no_acls=True)
    # ACLs for someone else on the resource: not "no ACL found" any more.
    other = AclIndex([acl("orders", principal="User:bob")])
    assert not allowed(other, allow_if_no_acls=True)


@pytest.mark.parametrize("granting", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.ALL])
def test_describe_is_implied(granting: Op) -> None:
    assert allowed(AclIndex([acl("orders", op=granting)]), op=Op.DESCRIBE)


def test_alter_configs_implies_describe_configs_but_not_the_reverse() -> None:
    assert allowed(AclIndex([acl("orders", op=Op.ALTER_CONFIGS)]), op=Op.DESCRIBE_CONFIGS)
    assert not allowed(AclIndex([acl("orders", op=Op.DESCRIBE_CONFIGS)]), op=Op.ALTER_CONFIGS)
    assert not allowed(AclIndex([acl("orders", op=Op.READ)]), op=Op.WRITE)


def test_deny_wins_and_deny_does_not_imply() -> None:
    index = AclIndex([acl("orders", op=Op.ALL), acl("orders", op=Op.WRITE, perm=DENY)])
    assert not allowed(index, op=Op.WRITE)
    assert allowed(index, op=Op.READ)
    index = AclIndex([acl("orders", op=Op.DESCRIBE), acl("orders", op=Op.READ, perm=DENY)])
    assert allowed(index, op=Op.DESCRIBE)


def test_patterns_wildcards_and_hosts() -> None:
    index = AclIndex(
        [
            acl("ord", pattern=PRE),
            acl("*", principal="User:bob", op=Op.WRITE),
            acl("x", principal="User:*", host="10.0.0.9"),
        ]
    )
    assert allowed(index, name="orders")
    assert not allowed(index, name="or")
    assert allowed(index, op=Op.WRITE, name="anything", principal="User:bob")
    assert allowed(index, name="x", principal="User:zed", host="10.0.0.9")
    assert not allowed(index, name="x", principal="User:zed", host="10.0.0.8")


def test_validation_follows_kafka() -> None:
    with pytest.raises(AclError):
        acl("t", op=Op.CLUSTER_ACTION).validate()  # not a topic operation
    with pytest.raises(AclError):
        acl("*", pattern=PRE).validate()
    with pytest.raises(AclError):
        acl("t", principal="alice").validate()
    with pytest.raises(AclError):
        AclBinding(ResourceType.CLUSTER, "c", LIT, "User:a", "*", Op.ALTER, ALLOW).validate()
    acl("t", op=Op.ALL).validate()


def test_match_filters_find_every_pattern_that_applies() -> None:
    bindings = [acl("orders"), acl("*"), acl("ord", pattern=PRE), acl("other")]
    found = [b for b in bindings if AclFilter(TOPIC, "orders", PatternType.MATCH).matches(b)]
    assert [b.resource_name for b in found] == ["orders", "*", "ord"]
    literal = [b for b in bindings if AclFilter(TOPIC, "orders", LIT).matches(b)]
    assert [b.resource_name for b in literal] == ["orders"]


NAMES = st.sampled_from(["a", "ab", "abc", "b", "*"])
PRINCIPALS = st.sampled_from(["User:alice", "User:bob", "User:*"])
OPS = st.sampled_from([Op.READ, Op.WRITE, Op.DESCRIBE, Op.ALL, Op.DELETE])
BINDINGS = st.builds(
    AclBinding,
    st.just(TOPIC),
    NAMES,
    st.sampled_from([LIT, PRE]),
    PRINCIPALS,
    st.sampled_from(["*", "h1"]),
    OPS,
    st.sampled_from([ALLOW, DENY]),
).filter(lambda b: not (b.pattern_type == PRE and b.resource_name == "*"))


def model(bindings, principal, host, op, name, allow_if_none):
    def applies(b):
        if b.pattern_type == LIT:
            return b.resource_name in (name, "*")
        return name.startswith(b.resource_name)

    on_resource = [b for b in bindings if applies(b)]
    if not on_resource:
        return allow_if_none
    mine = [
        b for b in on_resource if b.principal in (principal, "User:*") and b.host in (host, "*")
    ]
    if any(b.permission == DENY and b.operation in (op, Op.ALL) for b in mine):
        return False
    implied = {Op.DESCRIBE: {Op.READ, Op.WRITE, Op.DELETE, Op.ALTER}}.get(op, set())
    return any(
        b.permission == ALLOW and (b.operation in (op, Op.ALL) or b.operation in implied)
        for b in mine
    )


@given(
    bindings=st.lists(BINDINGS, max_size=12),
    principal=st.sampled_from(["User:alice", "User:bob"]),
    host=st.sampled_from(["h1", "h2"]),
    op=st.sampled_from([Op.READ, Op.WRITE, Op.DESCRIBE, Op.DELETE]),
    name=st.sampled_from(["a", "ab", "abc", "b", "c"]),
    allow_if_none=st.booleans(),
)
def test_index_agrees_with_a_plain_model(bindings, principal, host, op, name, allow_if_none):
    index = AclIndex(bindings)
    expected = model(set(bindings), principal, host, op, name, allow_if_none)
    assert index.authorize(principal, host, op, TOPIC, name, allow_if_none) == expected
