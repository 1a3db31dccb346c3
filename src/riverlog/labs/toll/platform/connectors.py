"""The toll lab's connectors, as Kafka Connect REST configs (`PUT /connectors/{name}/config`).

- `toll-pg-accounts|vehicles|tags`: JDBC source, `timestamp+incrementing` on `updated_at`/`id`; SMTs drop
  those two columns (`ReplaceField$Value`) and move the id column into a string key (`ValueToKey` +
  `ExtractField$Key`), so `toll.accounts|vehicles|tags` hold the contract's shapes.
- `toll-file-gantries|tariffs`: FileStreamSource over the JSON-lines files `labs toll generate` writes;
  `ParseJson` turns each line into a schemaless object, then the same key SMTs as above.
- `toll-pg-charges|invoices`: JDBC sink, upsert on `passage_id` / `invoice_id`; `ApplySchema` gives the
  schemaless JSON the struct schema the sink needs.
- `toll-http-alerts`: HTTP sink posting JSON arrays of alerts to the console's
  `POST /labs/toll/alerts` (or any URL given).

Every connector sets its own converters: string keys, JSON values without the schema envelope.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from riverlog.labs.toll.model import TOPICS

PARSE_JSON = "riverlog.labs.toll.platform.transforms.ParseJson"
APPLY_SCHEMA = "riverlog.labs.toll.platform.transforms.ApplySchema"
CONVERTERS = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
}
# table -> its key column (the JDBC sources)
SOURCE_TABLES = {"accounts": "account_id", "vehicles": "plate", "tags": "tag_id"}
FILE_SOURCES = {"gantries": "gantry_id", "tariffs": "gantry_id"}
CHARGE_FIELDS = (
    "passage_id:string,plate:string,account_id:string?,gantry_id:string,vehicle_class:int32,"
    "amount_cents:int64,billing:string,captured_at:int64,charged_at:int64"
)
INVOICE_FIELDS = (
    "invoice_id:string,plate:string,amount_cents:int64,passage_ids:string,"
    "period_start:int64,period_end:int64"
)


def jdbc_url(dsn: str) -> tuple[str, str | None, str | None]:
    """`postgresql://user:pw@host:port/db` → (`jdbc:postgresql://host:port/db`, user, password)."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {dsn} (expected postgresql://user@host:port/db)")
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return (
        f"jdbc:postgresql://{host}{port}{parts.path or '/postgres'}",
        parts.username,
        parts.password,
    )


def _key_from(field: str) -> dict[str, str]:
    return {
        "transforms.key.type": "org.apache.kafka.connect.transforms.ValueToKey",
        "transforms.key.fields": field,
        "transforms.extract.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
        "transforms.extract.field": field,
    }


def _connection(dsn: str) -> dict[str, str]:
    url, user, password = jdbc_url(dsn)
    out = {"connection.url": url}
    if user:
        out["connection.user"] = user
    if password:
        out["connection.password"] = password
    return out


def jdbc_sources(dsn: str, *, poll_interval_ms: int = 1000) -> dict[str, dict[str, str]]:
    out = {}
    for table, key in SOURCE_TABLES.items():
        out[f"toll-pg-{table}"] = {
            "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "tasks.max": "1",
            **_connection(dsn),
            "mode": "timestamp+incrementing",
            "incrementing.column.name": "id",
            "timestamp.column.name": "updated_at",
            "table.whitelist": table,
            "topic.prefix": "toll.",
            "poll.interval.ms": str(poll_interval_ms),
            "batch.max.rows": "1000",
            **CONVERTERS,
            "transforms": "drop,key,extract",
            "transforms.drop.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
            "transforms.drop.exclude": "id,updated_at",
            **_key_from(key),
        }
    return out


def file_sources(reference_dir: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, key in FILE_SOURCES.items():
        out[f"toll-file-{name}"] = {
            "connector.class": "FileStreamSource",
            "tasks.max": "1",
            "file": str((reference_dir / f"{name}.jsonl").absolute()),
            "topic": TOPICS[name],
            **CONVERTERS,
            "transforms": "parse,key,extract",
            "transforms.parse.type": PARSE_JSON,
            **_key_from(key),
        }
    return out


def jdbc_sinks(dsn: str) -> dict[str, dict[str, str]]:
    out = {}
    for name, pk, fields in (
        ("charges", "passage_id", CHARGE_FIELDS),
        ("invoices", "invoice_id", INVOICE_FIELDS),
    ):
        out[f"toll-pg-{name}"] = {
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "tasks.max": "1",
            **_connection(dsn),
            "topics": TOPICS[name],
            "table.name.format": name,
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": pk,
            "auto.create": "false",
            **CONVERTERS,
            "transforms": "schema",
            "transforms.schema.type": APPLY_SCHEMA,
            "transforms.schema.fields": fields,
            "transforms.schema.schema.name": f"toll.{name}",
        }
    return out


def http_alerts(url: str) -> dict[str, dict[str, str]]:
    return {
        "toll-http-alerts": {
            "connector.class": "io.confluent.connect.http.HttpSinkConnector",
            "tasks.max": "1",
            "topics": TOPICS["alerts"],
            "http.api.url": url,
            "request.method": "POST",
            "headers": "Content-Type:application/json",
            "request.body.format": "string",
            "batch.max.size": "100",
            "batch.prefix": "[",
            "batch.suffix": "]",
            "batch.separator": ",",
            "max.retries": "5",
            "retry.backoff.ms": "500",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        }
    }


def all_connectors(
    dsn: str, reference_dir: Path, alerts_url: str | None
) -> dict[str, dict[str, str]]:
    """Every connector of the lab by name (the HTTP sink only with an alerts URL)."""
    out = {**jdbc_sources(dsn), **file_sources(reference_dir), **jdbc_sinks(dsn)}
    if alerts_url:
        out.update(http_alerts(alerts_url))
    return out
