"""The registry against confluent-kafka's own SchemaRegistryClient (no riverlog code on the client side):
register, de-duplicate, evolve, refuse incompatible changes under every level, delete, references, config
and mode; raw HTTP for the routes the client has no method for."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from riverlog.registry.server import RegistryServer

pytestmark = pytest.mark.integration

V1 = {
    "type": "record",
    "name": "User",
    "namespace": "ex",
    "fields": [{"name": "id", "type": "long"}],
}
# adds a field with a default: backward and forward compatible
V2 = {**V1, "fields": [*V1["fields"], {"name": "name", "type": "string", "default": ""}]}
# adds a field without a default: forward compatible only (new readers need it)
V2_NO_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "age", "type": "int"}]}
# removes the only field... and adds one with a default: backward only
V_CHANGED_TYPE = {**V1, "fields": [{"name": "id", "type": "string"}]}


def avro(obj: object) -> Schema:
    return Schema(json.dumps(obj), "AVRO")


def subject() -> str:
    return f"s-{uuid.uuid4().hex[:8]}-value"


@pytest.fixture(scope="module")
def client(registry: RegistryServer) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url})


def fresh(registry: RegistryServer) -> SchemaRegistryClient:
    """A client without the cache, so every call reaches the server."""
    return SchemaRegistryClient({"url": registry.url})


def error_of(call: object, *args: object) -> tuple[int, int]:
    with pytest.raises(SchemaRegistryError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.http_status_code, info.value.error_code


def test_register_fetch_and_deduplicate(registry: RegistryServer) -> None:
    client = fresh(registry)
    name = subject()
    first = client.register_schema(name, avro(V1))
    # Same schema, other layout: the same id, no new version.
    again = fresh(registry).register_schema(name, Schema(json.dumps(V1, indent=4), "AVRO"))
    assert again == first
    assert fresh(registry).get_versions(name) == [1]
    # Same schema under another subject: the same (global) id.
    assert fresh(registry).register_schema(subject(), avro(V1)) == first
    fetched = fresh(registry).get_schema(first)
    assert json.loads(fetched.schema_str) == V1 and fetched.schema_type == "AVRO"
    latest = fresh(registry).get_latest_version(name)
    assert (latest.subject, latest.version, latest.schema_id) == (name, 1, first)
    looked_up = fresh(registry).lookup_schema(name, avro(V1))
    assert looked_up.version == 1 and looked_up.schema_id == first
    assert name in fresh(registry).get_subjects()


def test_evolve_compatibly_under_default_backward(registry: RegistryServer) -> None:
    client = fresh(registry)
    name = subject()
    id1 = client.register_schema(name, avro(V1))
    id2 = client.register_schema(name, avro(V2))
    assert id2 > id1
    assert client.get_versions(name) == [1, 2]
    assert client.get_compatibility() == "BACKWARD"
    assert client.test_compatibility(name, avro(V2_NO_DEFAULT)) is False
    assert error_of(client.register_schema, name, avro(V_CHANGED_TYPE)) == (409, 409)


@pytest.mark.parametrize(
    ("level", "allowed", "refused"),
    [
        ("BACKWARD", V2, V2_NO_DEFAULT),
        ("FORWARD", V2_NO_DEFAULT, V_CHANGED_TYPE),
        ("FULL", V2, V2_NO_DEFAULT),
        ("NONE", V_CHANGED_TYPE, None),
    ],
)
def test_each_level_refuses_what_it_must(
    registry: RegistryServer, level: str, allowed: dict[str, object], refused: object
) -> None:
    client = fresh(registry)
    name = subject()
    client.register_schema(name, avro(V1))
    assert client.set_compatibility(name, level) == {"compatibility": level}
    assert client.get_compatibility(name) == level
    if refused is not None:
        assert error_of(client.register_schema, name, avro(refused)) == (409, 409)
    client.register_schema(name, avro(allowed))
    assert len(client.get_versions(name)) == 2


@pytest.mark.parametrize("level", ["BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"])
def test_transitive_levels_check_every_version(registry: RegistryServer, level: str) -> None:
    client = fresh(registry)
    name = subject()
    client.set_compatibility(name, "NONE")
    base = {"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]}
    # v2 drops `a`; v3 brings `a` back as a string: compatible with v2 both ways, not with v1.
    v2 = {"type": "record", "name": "T", "fields": [{"name": "b", "type": "int", "default": 0}]}
    v3 = {
        "type": "record",
        "name": "T",
        "fields": [
            {"name": "b", "type": "int", "default": 0},
            {"name": "a", "type": "string", "default": "x"},
        ],
    }
    client.register_schema(name, avro(base))
    client.register_schema(name, avro(v2))
    non_transitive = level.removesuffix("_TRANSITIVE")
    client.set_compatibility(name, non_transitive)
    assert client.test_compatibility(name, avro(v3)) is True
    client.set_compatibility(name, level)
    assert error_of(client.register_schema, name, avro(v3)) == (409, 409)


def test_soft_and_hard_delete(registry: RegistryServer) -> None:
    client = fresh(registry)
    name = subject()
    id1 = client.register_schema(name, avro(V1))
    client.register_schema(name, avro(V2))
    # A version must be soft-deleted before it is deleted permanently.
    assert error_of(client.delete_version, name, 1, True) == (404, 40407)
    assert client.delete_version(name, 1) == 1
    assert error_of(client.delete_version, name, 1) == (404, 40406)
    assert fresh(registry).get_versions(name) == [2]
    assert error_of(fresh(registry).get_version, name, 1) == (404, 40402)
    assert client.delete_version(name, 1, permanent=True) == 1
    # The subject: soft first, then permanently.
    assert error_of(client.delete_subject, name, True) == (404, 40405)
    assert client.delete_subject(name) == [2]
    assert name not in fresh(registry).get_subjects()
    assert name in fresh(registry).get_subjects(deleted=True)
    assert error_of(client.delete_subject, name) == (404, 40404)
    assert error_of(fresh(registry).get_versions, name) == (404, 40401)
    assert client.delete_subject(name, permanent=True) == [2]
    assert name not in fresh(registry).get_subjects(deleted=True)
    # A subject deleted permanently starts again at version 1 (as Confluent's does).
    fresh(registry).register_schema(name, avro(V2))
    assert fresh(registry).get_versions(name) == [1]
    # The id is still served while another subject uses the schema; gone once nothing does.
    other = subject()
    assert client.register_schema(other, avro(V1)) == id1
    assert json.loads(fresh(registry).get_schema(id1).schema_str) == V1


def test_references_and_referenced_by(registry: RegistryServer) -> None:
    client = fresh(registry)
    address_subject = subject()
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "ex",
        "fields": [{"name": "city", "type": "string"}],
    }
    address_id = client.register_schema(address_subject, avro(address))
    person = {
        "type": "record",
        "name": "Person",
        "namespace": "ex",
        "fields": [{"name": "home", "type": "ex.Address"}],
    }
    refs = [SchemaReference("ex.Address", address_subject, 1)]
    person_subject = subject()
    person_id = client.register_schema(person_subject, Schema(json.dumps(person), "AVRO", refs))
    fetched = fresh(registry).get_schema(person_id)
    assert [(r.name, r.subject, r.version) for r in fetched.references] == [
        ("ex.Address", address_subject, 1)
    ]
    assert client.get_referenced_by(address_subject, 1) == [person_id]
    # A referenced schema cannot be deleted.
    assert error_of(client.delete_version, address_subject, 1) == (422, 42206)
    # Without the reference the schema names a type it cannot resolve.
    assert error_of(client.register_schema, subject(), avro(person))[1] == 42201
    assert address_id != person_id


def test_error_codes(registry: RegistryServer) -> None:
    client = fresh(registry)
    assert error_of(client.get_schema, 987654) == (404, 40403)
    assert error_of(client.get_latest_version, subject()) == (404, 40401)
    name = subject()
    client.register_schema(name, avro(V1))
    assert error_of(client.get_version, name, 42) == (404, 40402)
    assert error_of(client.register_schema, name, Schema("{not json", "AVRO")) == (422, 42201)
    bad_avro = {"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}
    assert error_of(client.register_schema, name, avro(bad_avro)) == (422, 42201)
    assert error_of(client.lookup_schema, name, avro(V2)) == (404, 40403)
    assert error_of(client.set_compatibility, name, "SIDEWAYS") == (422, 42203)
    assert error_of(client.get_compatibility, name + "-no-config")[1] == 40408


def test_modes(registry: RegistryServer) -> None:
    client = fresh(registry)
    name = subject()
    client.register_schema(name, avro(V1))
    assert client.get_global_mode() == "READWRITE"
    client.update_mode(name, "READONLY")
    assert client.get_mode(name) == "READONLY"
    assert error_of(client.register_schema, name, avro(V2)) == (422, 42205)
    client.delete_mode(name)
    client.register_schema(name, avro(V2))
    # IMPORT: ids and versions come from the request (a migration), no compatibility check.
    imported = subject()
    client.update_mode(imported, "IMPORT")
    with httpx.Client(base_url=registry.url) as http:
        answer = http.post(
            f"/subjects/{imported}/versions",
            json={"schema": json.dumps(V_CHANGED_TYPE), "id": 50000, "version": 7},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"id": 50000}
        assert http.get(f"/subjects/{imported}/versions/7").json()["id"] == 50000
    client.update_mode(imported, "READWRITE")
    # Ids allocated afterwards never collide with imported ones.
    assert (
        client.register_schema(subject(), avro({"type": "enum", "name": "E", "symbols": ["A"]}))
        > 50000
    )


def test_routes_without_a_client_method(registry: RegistryServer) -> None:
    client = fresh(registry)
    name = subject()
    schema_id = client.register_schema(name, avro(V1))
    media = "application/vnd.schemaregistry.v1+json"
    with httpx.Client(base_url=registry.url) as http:
        assert http.get("/").json() == {}
        assert http.get("/").headers["content-type"].startswith(media)
        assert sorted(http.get("/schemas/types").json()) == ["AVRO", "JSON", "PROTOBUF"]
        assert json.loads(http.get(f"/schemas/ids/{schema_id}/schema").text) == V1
        assert name in http.get(f"/schemas/ids/{schema_id}/subjects").json()
        assert {"subject": name, "version": 1} in http.get(
            f"/schemas/ids/{schema_id}/versions"
        ).json()
        assert json.loads(http.get(f"/subjects/{name}/versions/latest/schema").text) == V1
        assert http.get("/contexts").json() == ["."]
        assert "kafka-cluster" in http.get("/v1/metadata/id").json()["scope"]["clusters"]
        assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
        verbose = http.post(
            f"/compatibility/subjects/{name}/versions/latest?verbose=true",
            json={"schema": json.dumps(V_CHANGED_TYPE)},
            headers={"Content-Type": media},
        ).json()
        assert verbose["is_compatible"] is False and verbose["messages"]
        plain_json = http.post(
            f"/subjects/{name}",
            content=json.dumps({"schema": json.dumps(V1)}),
            headers={"Content-Type": "application/json"},
        )
        assert plain_json.json()["id"] == schema_id
        assert http.get("/subjects/x/versions/0").json()["error_code"] == 42202
        unsupported = http.post(
            f"/subjects/{name}/versions", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert unsupported.status_code == 415
        assert http.get("/no/such/route").status_code == 404


def test_json_schema_and_protobuf_evolution_and_references(registry: RegistryServer) -> None:
    client = fresh(registry)
    # JSON Schema: a document referencing another by URL.
    address_subject = subject()
    address = {"type": "object", "properties": {"city": {"type": "string"}}}
    client.register_schema(address_subject, Schema(json.dumps(address), "JSON"))
    person = {
        "type": "object",
        "properties": {"home": {"$ref": "address.json"}, "name": {"type": "string"}},
        "additionalProperties": False,
    }
    refs = [SchemaReference("address.json", address_subject, 1)]
    person_subject = subject()
    client.register_schema(person_subject, Schema(json.dumps(person), "JSON", refs))
    # Removing a property from a closed model is refused under BACKWARD.
    narrowed = {**person, "properties": {"home": {"$ref": "address.json"}}}
    assert error_of(
        client.register_schema, person_subject, Schema(json.dumps(narrowed), "JSON", refs)
    ) == (409, 409)
    widened = {**person, "properties": {**person["properties"], "age": {"type": "integer"}}}
    client.register_schema(person_subject, Schema(json.dumps(widened), "JSON", refs))

    # Protobuf as .proto text, importing another registered file.
    common_subject = subject()
    common = 'syntax = "proto3";\npackage c;\nmessage Money { int64 cents = 1; }\n'
    client.register_schema(common_subject, Schema(common, "PROTOBUF"))
    order = (
        'syntax = "proto3";\npackage o;\nimport "money.proto";\n'
        "message Order { string id = 1; c.Money total = 2; }\n"
    )
    proto_refs = [SchemaReference("money.proto", common_subject, 1)]
    order_subject = subject()
    order_id = client.register_schema(order_subject, Schema(order, "PROTOBUF", proto_refs))
    assert fresh(registry).get_schema(order_id).schema_type == "PROTOBUF"
    changed = order.replace("string id = 1", "double id = 1")
    assert error_of(
        client.register_schema, order_subject, Schema(changed, "PROTOBUF", proto_refs)
    ) == (409, 409)
    added = order.replace("c.Money total = 2;", "c.Money total = 2; bool paid = 3;")
    assert client.register_schema(order_subject, Schema(added, "PROTOBUF", proto_refs)) > order_id
    with httpx.Client(base_url=registry.url) as http:
        serialized = http.get(f"/schemas/ids/{order_id}", params={"format": "serialized"}).json()
        assert "message" not in serialized["schema"]  # base64 FileDescriptorProto
        assert serialized["references"] == [
            {"name": "money.proto", "subject": common_subject, "version": 1}
        ]
    assert error_of(
        client.register_schema, subject(), Schema('syntax = "proto3"; message {', "PROTOBUF")
    ) == (422, 42201)


def test_metrics_count_schemas_and_requests(registry: RegistryServer) -> None:
    from riverlog.testing.scrape import scrape, value

    before = scrape(registry.url)
    assert value(before, "process_resident_memory_bytes") > 0
    subject = f"metered-{uuid.uuid4().hex[:6]}-value"
    fresh(registry).register_schema(subject, Schema('{"type": "string"}', "AVRO"))
    fresh(registry).register_schema(subject + "-json", Schema('{"type": "object"}', "JSON"))
    after = scrape(registry.url)
    prefix = "kafka_schema_registry_"
    assert (
        value(after, prefix + "registered_count") == value(before, prefix + "registered_count") + 2
    )
    assert value(after, prefix + "subject_count") == value(before, prefix + "subject_count") + 2
    for schema_type in ("avro", "json"):
        assert value(after, prefix + "schemas_created", schema_type=schema_type) == (
            value(before, prefix + "schemas_created", schema_type=schema_type) + 1
        )
    assert value(after, prefix + "master_slave_role") == 1
    requests = prefix + "jersey_metrics_request_total"
    assert value(after, requests, method="POST", status="200") == (
        value(before, requests, method="POST", status="200") + 2
    )
    latency = prefix + "jersey_metrics_request_latency_seconds_count"
    assert value(after, latency, method="POST") == value(before, latency, method="POST") + 2
