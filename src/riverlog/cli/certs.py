"""`riverlog certs create`: a throwaway CA plus broker and client certificates, for development.

Writes into --dir: `ca.crt` (trust this: `ssl.truststore.location` / librdkafka `ssl.ca.location`),
`ca.key`, and for each broker or client NAME: `NAME.crt`, `NAME.key` and `NAME.pem` (key + certificate,
for `ssl.keystore.type=PEM` + `ssl.keystore.location`). Client certificates have CN=NAME, OU=clients,
so their principal is `User:CN=NAME,OU=clients,O=riverlog-dev` (Kafka's default DN form).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from riverlog.cli.errors import fail

app = typer.Typer(help="Development certificates for TLS listeners", no_args_is_help=True)


def _write(path: Path, data: bytes, private: bool) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


@app.command()
def create(
    directory: Annotated[Path, typer.Option("--dir", help="where to write the files")] = Path(
        "certs"
    ),
    broker: Annotated[
        list[str] | None, typer.Option("--broker", help="broker certificate name (repeatable)")
    ] = None,
    client: Annotated[
        list[str] | None, typer.Option("--client", help="client certificate name (repeatable)")
    ] = None,
    hostname: Annotated[
        list[str] | None,
        typer.Option("--hostname", help="host name or IP in broker certificates (repeatable)"),
    ] = None,
    days: Annotated[int, typer.Option(help="validity in days")] = 365,
    force: Annotated[bool, typer.Option(help="overwrite existing files")] = False,
) -> None:
    """Make a CA and certificates it signs (not for production)."""
    from riverlog.security.certs import create_ca, issue

    brokers = broker or ["broker"]
    clients = client or ["client"]
    hosts = hostname or ["localhost", "127.0.0.1"]
    names = set(brokers) | set(clients)
    if len(names) != len(brokers) + len(clients) or "ca" in names:
        fail("broker and client names must be distinct and not 'ca'")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {directory}: {exc.strerror}")
    existing = [p for p in directory.glob("*") if p.stem in names | {"ca"}]
    if existing and not force:
        fail(f"{existing[0]} exists; pass --force to overwrite or choose another --dir")
    if days < 1:
        fail("--days must be at least 1")
    ca = create_ca(days=days)
    _write(directory / "ca.crt", ca.issued.cert_pem, private=False)
    _write(directory / "ca.key", ca.issued.key_pem, private=True)
    issued = [
        (n, issue(ca, n, server=True, hostnames=hosts, unit="brokers", days=days)) for n in brokers
    ]
    issued += [(n, issue(ca, n, server=False, unit="clients", days=days)) for n in clients]
    for name, cert in issued:
        _write(directory / f"{name}.crt", cert.cert_pem, private=False)
        _write(directory / f"{name}.key", cert.key_pem, private=True)
        _write(directory / f"{name}.pem", cert.bundle_pem, private=True)
    print(f"wrote a CA and {len(issued)} certificate(s) to {directory}")
    print(f"broker:  ssl.keystore.type=PEM  ssl.keystore.location={directory / brokers[0]}.pem")
    print(f"         ssl.truststore.type=PEM  ssl.truststore.location={directory / 'ca.crt'}")
    print(
        f"client:  ssl.ca.location={directory / 'ca.crt'}  "
        f"ssl.certificate.location={directory / clients[0]}.crt  "
        f"ssl.key.location={directory / clients[0]}.key"
    )
