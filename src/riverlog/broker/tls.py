"""TLS for a listener from Kafka's `ssl.*` settings (each overridable per listener), with Python's ssl.

Key material: `ssl.keystore.type=PEM` with `ssl.keystore.location` (a PEM file holding the private
key and the certificate chain) or `ssl.keystore.certificate.chain` + `ssl.keystore.key` (PEM text in
the config); `PKCS12` keystores are read with `cryptography`. JKS is not readable from Python: it
fails at start naming the key. `ssl.key.password` decrypts an encrypted key. Trust:
`ssl.truststore.location` (PEM or PKCS12) or `ssl.truststore.certificates` (PEM text).
`ssl.client.auth`: none → no client certificate asked; requested → asked, verified if sent;
required → a connection without a trusted certificate fails the handshake.
Key material given as text is written to a private temporary file only for as long as
`SSLContext.load_cert_chain` reads it (the ssl module loads keys from files only).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from riverlog.broker.config import BrokerConfig
from riverlog.broker.config_defs import ConfigError, listener_setting_name

_PROTOCOLS = {
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1": ssl.TLSVersion.TLSv1,
}


def _key(listener: str, name: str, config: BrokerConfig) -> str:
    """The key a setting came from, for error messages (per-listener or broker-wide)."""
    for key in config.explicit:
        if listener_setting_name(key) == (listener.upper(), name):
            return key
    return name


@contextlib.contextmanager
def _private_file(text: str) -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="riverlog-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _read(path_text: str, key: str) -> bytes:
    try:
        return Path(path_text).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path_text}: {exc.strerror}") from None


def _pkcs12_to_pem(data: bytes, password: str | None, key: str) -> tuple[str, str, list[str]]:
    """(private key PEM, certificate PEM, CA certificates PEM) of a PKCS12 store."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        pkcs12,
    )

    try:
        private, cert, extra = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None
        )
    except ValueError as exc:
        raise ConfigError(f"{key}: cannot read PKCS12 store: {exc}") from None
    key_pem = (
        private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        if private is not None
        else ""
    )
    cert_pem = cert.public_bytes(Encoding.PEM).decode() if cert is not None else ""
    return key_pem, cert_pem, [c.public_bytes(Encoding.PEM).decode() for c in extra]


def _load_keystore(context: ssl.SSLContext, listener: str, config: BrokerConfig) -> None:
    def get(name: str) -> str | None:
        return config.for_listener_str(listener, name)

    store_type = get("ssl.keystore.type") or "JKS"
    location = get("ssl.keystore.location")
    chain = get("ssl.keystore.certificate.chain")
    key_text = get("ssl.keystore.key")
    key_password = get("ssl.key.password")
    if chain or key_text:
        if not (chain and key_text):
            raise ConfigError(
                f"{_key(listener, 'ssl.keystore.key', config)}: set both ssl.keystore.certificate."
                "chain and ssl.keystore.key (PEM text)"
            )
        if store_type != "PEM":
            raise ConfigError(
                f"{_key(listener, 'ssl.keystore.type', config)}: must be PEM when the keystore "
                "is given as PEM text"
            )
        with _private_file(chain) as cert_path, _private_file(key_text) as key_path:
            _load_chain(context, cert_path, key_path, key_password, listener, config)
        return
    if not location:
        raise ConfigError(
            f"listener {listener} uses TLS: set {_key(listener, 'ssl.keystore.location', config)} "
            "(or ssl.keystore.certificate.chain and ssl.keystore.key)"
        )
    key_name = _key(listener, "ssl.keystore.location", config)
    data = _read(location, key_name)
    if store_type == "PEM":
        with _private_file(data.decode(errors="replace")) as path:
            _load_chain(context, path, None, key_password, listener, config)
    elif store_type == "PKCS12":
        key_pem, cert_pem, extra = _pkcs12_to_pem(data, get("ssl.keystore.password"), key_name)
        with _private_file(key_pem + cert_pem + "".join(extra)) as path:
            _load_chain(context, path, None, None, listener, config)
    else:
        raise ConfigError(
            f"{_key(listener, 'ssl.keystore.type', config)}: JKS keystores cannot be read here; "
            "use PEM or PKCS12 (keytool -importkeystore converts one)"
        )


def _load_chain(
    context: ssl.SSLContext,
    cert_path: str,
    key_path: str | None,
    password: str | None,
    listener: str,
    config: BrokerConfig,
) -> None:
    try:
        context.load_cert_chain(cert_path, key_path, password=password)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{_key(listener, 'ssl.keystore.location', config)}: cannot load the key and "
            f"certificate chain: {exc}"
        ) from None


def _load_truststore(context: ssl.SSLContext, listener: str, config: BrokerConfig) -> bool:
    """Load trusted CAs; False when none are configured."""
    certificates = config.for_listener_str(listener, "ssl.truststore.certificates")
    location = config.for_listener_str(listener, "ssl.truststore.location")
    store_type = config.for_listener_str(listener, "ssl.truststore.type") or "JKS"
    key = _key(listener, "ssl.truststore.location", config)
    try:
        if certificates:
            context.load_verify_locations(cadata=certificates)
            return True
        if not location:
            return False
        data = _read(location, key)
        if store_type == "PKCS12":
            password = config.for_listener_str(listener, "ssl.truststore.password")
            _, cert_pem, extra = _pkcs12_to_pem(data, password, key)
            context.load_verify_locations(cadata=cert_pem + "".join(extra))
        elif store_type == "PEM":
            context.load_verify_locations(cadata=data.decode(errors="replace"))
        else:
            raise ConfigError(
                f"{_key(listener, 'ssl.truststore.type', config)}: JKS cannot be read here; use PEM or PKCS12"
            )
    except ssl.SSLError as exc:
        raise ConfigError(f"{key}: cannot load trusted certificates: {exc}") from None
    return True


def _apply_protocols(context: ssl.SSLContext, listener: str, config: BrokerConfig) -> None:
    enabled = [
        p.strip()
        for p in (config.for_listener_str(listener, "ssl.enabled.protocols") or "").split(",")
        if p.strip()
    ]
    unknown = [p for p in enabled if p not in _PROTOCOLS]
    if unknown:
        raise ConfigError(
            f"{_key(listener, 'ssl.enabled.protocols', config)}: unknown protocol {unknown[0]!r} "
            f"(use {', '.join(_PROTOCOLS)})"
        )
    if enabled:
        versions = sorted(_PROTOCOLS[p] for p in enabled)
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    ciphers = config.for_listener_str(listener, "ssl.cipher.suites")
    if ciphers:
        try:
            context.set_ciphers(":".join(c.strip() for c in ciphers.split(",")))
        except ssl.SSLError:
            raise ConfigError(
                f"{_key(listener, 'ssl.cipher.suites', config)}: no usable cipher in {ciphers!r}"
            ) from None


def server_context(listener: str, config: BrokerConfig) -> ssl.SSLContext:
    """The SSLContext a TLS listener serves with; ConfigError naming the key on bad settings."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_protocols(context, listener, config)
    _load_keystore(context, listener, config)
    client_auth = config.for_listener_str(listener, "ssl.client.auth") or "none"
    trusted = _load_truststore(context, listener, config)
    if client_auth != "none":
        if not trusted:
            raise ConfigError(
                f"{_key(listener, 'ssl.client.auth', config)}={client_auth} needs trusted CAs: "
                "set ssl.truststore.location or ssl.truststore.certificates"
            )
        context.verify_mode = ssl.CERT_REQUIRED if client_auth == "required" else ssl.CERT_OPTIONAL
    return context


def client_context(listener: str, config: BrokerConfig) -> ssl.SSLContext:
    """The SSLContext this broker connects to others' `listener` with (inter-broker traffic)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _apply_protocols(context, listener, config)
    if not _load_truststore(context, listener, config):
        context.load_default_certs()
    algorithm = config.for_listener_str(listener, "ssl.endpoint.identification.algorithm")
    context.check_hostname = bool(algorithm)
    has_key = config.for_listener_str(listener, "ssl.keystore.location") or config.for_listener_str(
        listener, "ssl.keystore.key"
    )
    if has_key:
        _load_keystore(context, listener, config)
    return context
