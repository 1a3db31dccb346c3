"""Confluent's listing routes over raw HTTP against a real registry process (schemas registered and
deleted with confluent-kafka's own SchemaRegistryClient): `GET /schemas` with its filters, `?subject=`
on `GET /schemas/ids/{id}`, `?deletedOnly=` on subjects and versions, `?defaultToGlobal=` on config and
mode, `GET /contexts`."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from riverlog.registry.server import RegistryServer

pytestmark = pytest.mark.integration


def record(name: str, *fields: str) -> Schema:
    body = {"type": "record", "name": name, "fields": [{"name": f, "type": "long"} for f in fields]}
    return Schema(json.dumps(body), "AVRO")


def test_listing_routes(registry: RegistryServer) -> None:
    client = SchemaRegistryClient({"url": registry.url, "cache.capacity": 1})
    prefix = f"l{uuid.uuid4().hex[:6]}-"
    a, b = prefix + "a", prefix + "b"
    client.set_compatibility(a, "NONE")
    a1 = client.register_schema(a, record("A", "x"))
    a2 = client.register_schema(a, record("A", "y"))
    b1 = client.register_schema(b, Schema('{"type": "object"}', "JSON"))
    with httpx.Client(base_url=registry.url) as http:
        every = http.get("/schemas", params={"subjectPrefix": prefix}).json()
        assert [(s["subject"], s["version"], s["id"]) for s in every] == [
            (a, 1, a1),
            (a, 2, a2),
            (b, 1, b1),
        ]
        assert "schemaType" not in every[0] and every[2]["schemaType"] == "JSON"
        assert json.loads(every[1]["schema"])["fields"][0]["name"] == "y"
        latest = http.get("/schemas", params={"subjectPrefix": prefix, "latestOnly": "true"})
        assert [s["id"] for s in latest.json()] == [a2, b1]
        page = http.get("/schemas", params={"subjectPrefix": prefix, "offset": 1, "limit": 1})
        assert [s["id"] for s in page.json()] == [a2]
        bad = http.get("/schemas", params={"limit": "many"})
        assert (bad.status_code, bad.json()["error_code"]) == (404, 404)

        assert http.get(f"/schemas/ids/{a1}", params={"subject": a}).json()["schema"]
        other_context = http.get(f"/schemas/ids/{a1}", params={"subject": ":.elsewhere:" + a})
        assert other_context.status_code == 404
        assert other_context.json() == {"error_code": 40403, "message": f"Schema {a1} not found"}

        client.delete_version(a, 1)
        client.delete_subject(b)
        assert http.get(f"/subjects/{a}/versions", params={"deletedOnly": "true"}).json() == [1]
        assert http.get(f"/subjects/{a}/versions", params={"deleted": "true"}).json() == [1, 2]
        assert http.get(f"/subjects/{a}/versions").json() == [2]
        assert http.get("/schemas", params={"subjectPrefix": prefix}).json()[0]["id"] == a2
        deleted = http.get("/schemas", params={"subjectPrefix": prefix, "deleted": "true"})
        assert [s["id"] for s in deleted.json()] == [a1, a2, b1]
        only = http.get("/subjects", params={"subjectPrefix": prefix, "deletedOnly": "true"})
        assert only.json() == [b]
        assert http.get("/subjects", params={"subjectPrefix": prefix}).json() == [a]

        missing = http.get(f"/config/{b}")
        assert missing.json()["error_code"] == 40408
        assert http.get(f"/config/{b}", params={"defaultToGlobal": "true"}).json() == {
            "compatibilityLevel": "BACKWARD"
        }
        assert http.get(f"/config/{a}").json() == {"compatibilityLevel": "NONE"}
        assert http.get("/mode", params={"defaultToGlobal": "true"}).json() == {"mode": "READWRITE"}
        assert http.get(f"/mode/{a}").json()["error_code"] == 40409
        assert http.get(f"/mode/{a}", params={"defaultToGlobal": "true"}).json() == {
            "mode": "READWRITE"
        }
        assert http.get("/contexts").json() == ["."]


def test_normalize_on_register_and_lookup(registry: RegistryServer) -> None:
    client = SchemaRegistryClient({"url": registry.url, "cache.capacity": 1})
    name = f"n{uuid.uuid4().hex[:6]}-value"
    loose = {
        "namespace": "ex",
        "type": "record",
        "name": "Item",
        "x-owner": "team",
        "a-tag": "t",
        "fields": [
            {"type": {"type": "string"}, "name": "sku", "doc": "the SKU", "default": ""},
            {"name": "next", "type": ["null", "Item"], "default": None},
        ],
    }
    # Confluent's normalized form: Java's attribute order, names relative to the namespace,
    # other attributes kept (sorted)
    tidy = (
        '{"type":"record","name":"Item","namespace":"ex","fields":['
        '{"name":"sku","type":"string","doc":"the SKU","default":""},'
        '{"name":"next","type":["null","Item"],"default":null}],"a-tag":"t","x-owner":"team"}'
    )
    schema_id = client.register_schema(
        name, Schema(json.dumps(loose), "AVRO"), normalize_schemas=True
    )
    stored = client.get_version(name, 1).schema.schema_str
    assert stored == tidy
    # both forms find it with and without normalize: equality is Java's Schema.equals, which
    # ignores layout and property order (a different schema does not match)
    found = client.lookup_schema(name, Schema(json.dumps(loose), "AVRO"), normalize_schemas=True)
    assert found.schema_id == schema_id
    assert client.lookup_schema(name, Schema(tidy, "AVRO")).schema_id == schema_id
    with httpx.Client(base_url=registry.url) as http:
        plain = http.post(f"/subjects/{name}", json={"schema": json.dumps(loose)})
        assert plain.json()["id"] == schema_id
        other = {**loose, "a-tag": "u"}
        miss = http.post(f"/subjects/{name}", json={"schema": json.dumps(other)})
        assert miss.json() == {"error_code": 40403, "message": "Schema not found"}
    # registering the loose form again with normalize is the same version
    again = client.register_schema(name, Schema(json.dumps(loose), "AVRO"), normalize_schemas=True)
    assert again == schema_id and client.get_versions(name) == [1]
