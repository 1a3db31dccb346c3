"""Principals: `User:<name>` (Kafka's KafkaPrincipal), the X.500 DN of a client certificate in the
form Kafka's default principal builder gives (`X500Principal.getName()`, RFC 2253), and
`ssl.principal.mapping.rules` (Kafka's SslPrincipalMapper).

DN format (RFC 2253, as Java writes it): the certificate's RDNs in reverse order, joined by ",";
attribute keywords only for CN, C, L, ST, O, OU, DC, STREET and UID, any other attribute as its
dotted OID with `#` and the hex of its DER value (e.g. an e-mail address:
`1.2.840.113549.1.9.1=#16...`); `,+"\\<>;` escaped with a backslash, as are a leading `#` or space
and a trailing space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ANONYMOUS = "ANONYMOUS"
USER_TYPE = "User"

# Python's ssl module names → RFC 2253 keywords (or an OID with the DER string tag Java writes).
_KEYWORDS = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "domainComponent": "DC",
    "streetAddress": "STREET",
    "userId": "UID",
}
_OIDS = {
    "emailAddress": ("1.2.840.113549.1.9.1", 0x16),  # IA5String
    "serialNumber": ("2.5.4.5", 0x13),  # PrintableString
    "title": ("2.5.4.12", 0x0C),
    "surname": ("2.5.4.4", 0x0C),
    "givenName": ("2.5.4.42", 0x0C),
}


class PrincipalMappingError(ValueError):
    """`ssl.principal.mapping.rules` could not be parsed, or no rule matched a name."""


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"

    @classmethod
    def user(cls, name: str) -> KafkaPrincipal:
        return cls(USER_TYPE, name)

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        kind, sep, name = text.partition(":")
        if not sep or not kind or not name:
            raise ValueError(f"expected a principal as TYPE:NAME (e.g. User:alice), got {text!r}")
        return cls(kind, name)


ANONYMOUS_PRINCIPAL = KafkaPrincipal(USER_TYPE, ANONYMOUS)


def _escape(value: str) -> str:
    out = []
    for index, char in enumerate(value):
        if (
            char in ',+"\\<>;'
            or (index == 0 and char in "# ")
            or (index == len(value) - 1 and char == " ")
        ):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _der_hex(tag: int, value: str) -> str:
    body = value.encode()
    if len(body) < 0x80:
        length = bytes([len(body)])
    else:
        size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return "#" + (bytes([tag]) + length + body).hex()


def format_dn(subject: Sequence[Sequence[tuple[str, str]]]) -> str:
    """A certificate subject as Python's `SSLSocket.getpeercert()["subject"]` gives it (RDNs in
    certificate order, each a sequence of (attribute, value)) → the RFC 2253 string Kafka uses."""
    rdns = []
    for rdn in reversed(subject):
        parts = []
        for attribute, value in rdn:
            if attribute in _KEYWORDS:
                parts.append(f"{_KEYWORDS[attribute]}={_escape(value)}")
            elif attribute in _OIDS:
                oid, tag = _OIDS[attribute]
                parts.append(f"{oid}={_der_hex(tag, value)}")
            else:
                parts.append(f"{attribute}={_escape(value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


@dataclass(frozen=True, slots=True)
class _Rule:
    default: bool
    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    case: str = ""


# RULE:pattern/replacement/[LU] with `\` escaping `/`, or DEFAULT; rules separated by commas.
_RULE = re.compile(
    r"\s*(?:(?P<default>DEFAULT)|RULE:(?P<pattern>(?:\\.|[^\\/])*)/(?P<replacement>(?:\\.|[^\\/])*)/(?P<case>[LU]?))\s*(?:,|$)"
)


def _java_replacement(text: str) -> str:
    """Java's `$1` group references → Python's `\\g<1>`; a literal backslash stays literal."""
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1].replace("\\", "\\\\"))
            index += 2
            continue
        if char == "$" and index + 1 < len(text) and text[index + 1].isdigit():
            out.append(f"\\g<{text[index + 1]}>")
            index += 2
            continue
        out.append(char.replace("\\", "\\\\"))
        index += 1
    return "".join(out)


class SslPrincipalMapper:
    """Kafka's `ssl.principal.mapping.rules`: the first rule whose pattern matches the whole DN
    rewrites it; DEFAULT keeps the DN; no matching rule is an error."""

    def __init__(self, rules: str = "DEFAULT") -> None:
        self.rules: list[_Rule] = []
        text = rules.strip() or "DEFAULT"
        position = 0
        while position < len(text):
            match = _RULE.match(text, position)
            if match is None or match.end() == position:
                raise PrincipalMappingError(
                    f"ssl.principal.mapping.rules: cannot parse {text[position:]!r} "
                    "(expected RULE:pattern/replacement/[LU] or DEFAULT)"
                )
            position = match.end()
            if match.group("default"):
                self.rules.append(_Rule(True))
                continue
            try:
                pattern = re.compile(match.group("pattern").replace("\\/", "/"))
            except re.error as exc:
                raise PrincipalMappingError(f"ssl.principal.mapping.rules: {exc}") from None
            replacement = _java_replacement(match.group("replacement").replace("\\/", "/"))
            self.rules.append(_Rule(False, pattern, replacement, match.group("case")))

    def name(self, distinguished_name: str) -> str:
        for rule in self.rules:
            if rule.default:
                return distinguished_name
            assert rule.pattern is not None
            if rule.pattern.fullmatch(distinguished_name):
                mapped = rule.pattern.sub(rule.replacement, distinguished_name)
                if rule.case == "L":
                    return mapped.lower()
                if rule.case == "U":
                    return mapped.upper()
                return mapped
        raise PrincipalMappingError(
            f"no ssl.principal.mapping.rules rule matches {distinguished_name!r}"
        )
