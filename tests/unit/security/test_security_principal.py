"""Principals: the DN of a certificate as Kafka writes it, and ssl.principal.mapping.rules."""

from __future__ import annotations

import pytest
from cryptography import x509

from riverlog.security.certs import create_ca, issue
from riverlog.security.principal import (
    KafkaPrincipal,
    PrincipalMappingError,
    SslPrincipalMapper,
    format_dn,
)


def test_the_dn_is_in_rfc2253_order_as_java_writes_it() -> None:
    subject = (
        (("countryName", "US"),),
        (("organizationName", "Acme, Inc"),),
        (("organizationalUnitName", "clients"),),
        (("commonName", "alice"),),
    )
    assert format_dn(subject) == "CN=alice,OU=clients,O=Acme\\, Inc,C=US"


def test_the_dn_of_a_generated_certificate_matches_cryptographys_rfc4514_form() -> None:
    ca = create_ca()
    cert = x509.load_pem_x509_certificate(issue(ca, "alice", server=False, unit="clients").cert_pem)
    keys = {"CN": "commonName", "OU": "organizationalUnitName", "O": "organizationName"}
    subject = tuple(((keys[a.rfc4514_attribute_name], str(a.value)),) for a in cert.subject)
    assert (
        format_dn(subject) == cert.subject.rfc4514_string() == "CN=alice,OU=clients,O=riverlog-dev"
    )


def test_an_email_address_is_written_as_an_oid_with_hex_der() -> None:
    subject = ((("emailAddress", "a@b.c"),), (("commonName", "x"),))
    assert format_dn(subject) == "CN=x,1.2.840.113549.1.9.1=#1605614062 2e63".replace(" ", "")


def test_escaping_of_special_characters() -> None:
    assert format_dn(((("commonName", '#a+b"c; '),),)) == 'CN=\\#a\\+b\\"c\\;\\ '


# Kafka's documented example rules and names.
RULES = (
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,"
    "DEFAULT"
)


@pytest.mark.parametrize(
    ("dn", "name"),
    [
        ("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "serviceuser"),
        ("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "adminuser@admin"),
        ("CN=kafka1.Example.com", "kafka1.example.com"),
        ("OU=nobody", "OU=nobody"),
    ],
)
def test_kafkas_example_mapping_rules(dn: str, name: str) -> None:
    assert SslPrincipalMapper(RULES).name(dn) == name


def test_upper_case_rule_and_no_default() -> None:
    mapper = SslPrincipalMapper("RULE:^CN=([^,]*).*$/$1/U")
    assert mapper.name("CN=alice,O=x") == "ALICE"
    with pytest.raises(PrincipalMappingError):
        mapper.name("O=x")


@pytest.mark.parametrize("rules", ["RULE:abc", "BOGUS", "RULE:(/x/"])
def test_unparsable_rules_are_refused(rules: str) -> None:
    with pytest.raises(PrincipalMappingError):
        SslPrincipalMapper(rules)


def test_principal_text() -> None:
    assert str(KafkaPrincipal.parse("User:CN=a,O=b")) == "User:CN=a,O=b"
    with pytest.raises(ValueError):
        KafkaPrincipal.parse("alice")
