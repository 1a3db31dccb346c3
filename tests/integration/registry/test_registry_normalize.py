"""`?normalize=true`, `?subject=` and error bodies, with confluent-kafka's own SchemaRegistryClient
against a real registry: the cases of Confluent's RestApiTest (testSchemaNormalization,
testExplicitNormalizeIgnoredInImportMode, testSchemaReferencesInContext's `getId(id, subject)`), JSON
Schema and Protobuf normalization, and every error's `error_code` and `message` as Confluent words it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from riverlog.registry.server import RegistryServer

pytestmark = pytest.mark.integration


def subject(tag: str = "s") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def client_of(registry: RegistryServer) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url, "cache.capacity": 1})


def stored(registry: RegistryServer, name: str, version: int = 1) -> dict[str, object]:
    """A version as the server has it (the client's caches keep what it sent)."""
    with httpx.Client(base_url=registry.url) as http:
        answer = http.get(f"/subjects/{name}/versions/{version}")
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body


def error_of(call: Callable[..., object], *args: object, **kwargs: object) -> tuple[int, int, str]:
    with pytest.raises(SchemaRegistryError) as info:
        call(*args, **kwargs)
    return info.value.http_status_code, info.value.error_code, info.value.error_message


def test_avro_normalization_with_references(registry: RegistryServer) -> None:
    client = client_of(registry)
    ref1_subject, ref2_subject, main = subject("ref1"), subject("ref2"), subject("main")
    reference1 = (
        '{"type":"record","name":"Subrecord1","namespace":"otherns",'
        '"fields":[{"name":"field1","type":"string"}]}'
    )
    reference2 = (
        '{"type":"record","name":"Subrecord2","namespace":"otherns",'
        '"fields":[{"name":"field2","type":"string"}]}'
    )
    client.register_schema(ref1_subject, Schema(reference1, "AVRO"))
    client.register_schema(ref2_subject, Schema(reference2, "AVRO"))
    ref1 = SchemaReference("otherns.Subrecord1", ref1_subject, 1)
    ref2 = SchemaReference("otherns.Subrecord2", ref2_subject, 1)
    # two layouts of one schema: {"type":{"type":"int"}} vs "int", extraMetadata keys swapped
    schema1 = (
        '{"type":"record","name":"myrecord","fields":[{"type":{"type":"int"},"name":"field0"},'
        '{"name":"field1","type":"otherns.Subrecord1"},{"name":"field2","type":"otherns.Subrecord2"}],'
        '"extraMetadata": {"a": 1, "b": 2}}'
    )
    schema2 = (
        '{"type":"record","name":"myrecord","fields":[{"type":"int","name":"field0"},'
        '{"name":"field1","type":"otherns.Subrecord1"},{"name":"field2","type":"otherns.Subrecord2"}],'
        '"extraMetadata": {"b": 2, "a": 1}}'
    )
    schema_id = client.register_schema(
        main, Schema(schema1, "AVRO", [ref1, ref2]), normalize_schemas=True
    )
    # references in another order, the other layout: the same version
    found = client.lookup_schema(
        main, Schema(schema2, "AVRO", [ref2, ref1]), normalize_schemas=True
    )
    assert (found.schema_id, found.version) == (schema_id, 1)
    version = stored(registry, main)
    assert version["schema"] == (
        '{"type":"record","name":"myrecord","fields":[{"name":"field0","type":"int"},'
        '{"name":"field1","type":"otherns.Subrecord1"},{"name":"field2","type":"otherns.Subrecord2"}],'
        '"extraMetadata":{"a":1,"b":2}}'
    )
    assert version["references"] == [
        {"name": "otherns.Subrecord1", "subject": ref1_subject, "version": 1},
        {"name": "otherns.Subrecord2", "subject": ref2_subject, "version": 1},
    ]
    # the schema sent with its references resolved (no references) finds the version too
    resolved = json.loads(schema2)
    resolved["fields"][1]["type"] = json.loads(reference1)
    resolved["fields"][2]["type"] = json.loads(reference2)
    found = client.lookup_schema(main, Schema(json.dumps(resolved), "AVRO"), normalize_schemas=True)
    assert (found.schema_id, found.version) == (schema_id, 1)
    # an invalid default is refused, normalized or not
    invalid_default = (
        '{"namespace": "namespace", "type": "record", "name": "test", "fields": '
        '[{"name": "string_default", "type": "string", "default": null}]}'
    )
    status, code, message = error_of(
        client.register_schema, main, Schema(invalid_default, "AVRO"), normalize_schemas=True
    )
    assert (status, code) == (422, 42201) and "Invalid schema" in message


def test_import_mode_skips_normalization(registry: RegistryServer) -> None:
    client = client_of(registry)
    name = subject("imp")
    raw = (
        '{"type":"record","name":"myrecord","fields":'
        '[{"type":"string","name":"field1","zprop":"z","aprop":"a"}]}'
    )
    client.update_mode(name, "IMPORT")
    with httpx.Client(base_url=registry.url) as http:
        answer = http.post(
            f"/subjects/{name}/versions",
            params={"normalize": "true"},
            json={"schema": raw, "id": 91000, "version": 1},
        )
        assert answer.status_code == 200, answer.text
        # IMPORT registers with an id only (Confluent's checkRegisterMode)
        refused = http.post(f"/subjects/{name}/versions", json={"schema": raw})
        assert refused.status_code == 422
        assert refused.json() == {
            "error_code": 42205,
            "message": f"Subject {name} in context . is not in read-write mode",
        }
    # Confluent's canonical string (Java's attribute order), not normalized: zprop stays first
    assert stored(registry, name)["schema"] == (
        '{"type":"record","name":"myrecord","fields":'
        '[{"name":"field1","type":"string","zprop":"z","aprop":"a"}]}'
    )
    client.update_mode(name, "READWRITE")
    # outside IMPORT the normalized form is stored: properties sorted
    other = subject("imp")
    client.register_schema(other, Schema(raw, "AVRO"), normalize_schemas=True)
    assert stored(registry, other)["schema"] == (
        '{"type":"record","name":"myrecord","fields":'
        '[{"name":"field1","type":"string","aprop":"a","zprop":"z"}]}'
    )


def test_json_schema_and_protobuf_normalization(registry: RegistryServer) -> None:
    client = client_of(registry)
    name = subject("json")
    loose = '{"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}'
    other = '{"properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "type": "object"}'
    schema_id = client.register_schema(name, Schema(loose, "JSON"), normalize_schemas=True)
    assert stored(registry, name)["schema"] == (
        '{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}'
    )
    found = client.lookup_schema(name, Schema(other, "JSON"), normalize_schemas=True)
    assert found.schema_id == schema_id

    name = subject("proto")
    shuffled = 'syntax = "proto3";\npackage p;\nmessage M { string b = 2; int64 a = 1; }\n'
    ordered = 'syntax = "proto3";\npackage p;\n\nmessage M {\n  int64 a = 1;\n  string b = 2;\n}\n'
    schema_id = client.register_schema(name, Schema(shuffled, "PROTOBUF"), normalize_schemas=True)
    assert stored(registry, name)["schema"] == ordered
    found = client.lookup_schema(
        name,
        Schema("syntax='proto3'; package p; message M {string b=2; int64 a=1;}", "PROTOBUF"),
        normalize_schemas=True,
    )
    assert found.schema_id == schema_id
    # without normalize, a differently ordered text is another schema
    assert error_of(client.lookup_schema, name, Schema(shuffled.replace("p;", "q;"), "PROTOBUF"))[
        :2
    ] == (404, 40403)


def test_get_schema_by_id_with_subject(registry: RegistryServer) -> None:
    client = client_of(registry)
    first, second = subject("a"), subject("b")
    text = '{"type":"record","name":"S","fields":[{"name":"x","type":"long"}]}'
    schema_id = client.register_schema(first, Schema(text, "AVRO"))
    client.set_compatibility(second, "NONE")
    client.register_schema(second, Schema('{"type":"enum","name":"E","symbols":["A"]}', "AVRO"))
    assert client.register_schema(second, Schema(text, "AVRO")) == schema_id  # version 2 there
    with httpx.Client(base_url=registry.url) as http:
        plain = http.get(f"/schemas/ids/{schema_id}").json()
        assert "subject" not in plain and plain["schema"] == text
        mine = http.get(f"/schemas/ids/{schema_id}", params={"subject": second}).json()
        assert (mine["subject"], mine["version"], mine["schema"]) == (second, 2, text)
        # a subject without the id: the id is still found (Confluent falls back to the context)
        other = http.get(f"/schemas/ids/{schema_id}", params={"subject": subject()}).json()
        assert other["schema"] == text and other["subject"] in (first, second)
    fetched = client.get_schema(schema_id, subject_name=first)
    assert fetched.schema_str == text


def test_error_bodies_as_confluent_words_them(registry: RegistryServer) -> None:
    client = client_of(registry)
    name = subject("err")
    v1 = '{"type":"record","name":"R","fields":[{"name":"id","type":"long"}]}'
    incompatible = '{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}'
    missing = subject("missing")
    assert error_of(client.get_latest_version, missing) == (
        404,
        40401,
        f"Subject '{missing}' not found.",
    )
    client.register_schema(name, Schema(v1, "AVRO"))
    assert error_of(client.get_version, name, 42) == (404, 40402, "Version 42 not found.")
    assert error_of(client.get_schema, 987654321) == (404, 40403, "Schema 987654321 not found")
    assert error_of(client.lookup_schema, name, Schema(incompatible, "AVRO")) == (
        404,
        40403,
        "Schema not found",
    )
    status, code, message = error_of(client.register_schema, name, Schema(incompatible, "AVRO"))
    assert (status, code) == (409, 409)
    assert message.startswith(
        f'Schema being registered is incompatible with an earlier schema for subject "{name}", '
        "details: [{errorType:'TYPE_MISMATCH'"
    )
    status, code, message = error_of(client.register_schema, name, Schema("{not json", "AVRO"))
    assert (status, code) == (422, 42201) and message.startswith("Invalid schema")
    with httpx.Client(base_url=registry.url) as http:
        bad_version = http.get(f"/subjects/{name}/versions/0").json()
        assert bad_version == {
            "error_code": 42202,
            "message": "The specified version '0' is not a valid version id. Allowed values are "
            'between [1, 2^31-1] and the string "latest"',
        }
    assert error_of(client.get_compatibility, name) == (
        404,
        40408,
        f"Subject '{name}' does not have subject-level compatibility configured",
    )
    assert error_of(client.set_compatibility, name, "SIDEWAYS") == (
        422,
        42203,
        "Invalid compatibility level. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
    )
    assert error_of(client.update_mode, name, "SIDEWAYS") == (
        422,
        42204,
        "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.",
    )
    client.update_mode(name, "READONLY")
    assert error_of(client.register_schema, name, Schema(v1.replace("id", "k"), "AVRO")) == (
        422,
        42205,
        f"Subject {name} in context . is in read-only mode",
    )
    client.delete_mode(name)
    # soft then hard delete of a version, and of the subject
    client.delete_version(name, 1)
    assert error_of(client.delete_version, name, 1) == (
        404,
        40406,
        f"Subject '{name}' Version 1 was soft deleted.Set permanent=true to delete permanently",
    )
    other = subject("err")
    client.register_schema(other, Schema(v1, "AVRO"))
    assert error_of(client.delete_version, other, 1, True) == (
        404,
        40407,
        f"Subject '{other}' Version 1 was not deleted first before being permanently deleted",
    )
    assert error_of(client.delete_subject, other, True) == (
        404,
        40405,
        f"Subject '{other}' was not deleted first before being permanently deleted",
    )
    client.delete_subject(other)
    assert error_of(client.delete_subject, other) == (
        404,
        40404,
        f"Subject '{other}' was soft deleted.Set permanent=true to delete permanently",
    )


def test_protobuf_imports_confluents_builtin_files_without_references(
    registry: RegistryServer,
) -> None:
    """Confluent's registry knows confluent/meta.proto, confluent/type/*.proto and google/type/*.proto;
    confluent-kafka's ProtobufSerializer registers schemas importing them with no references."""
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    from google.protobuf import message_factory

    from riverlog.schema.protobuf import ProtobufSchema

    text = (
        'syntax = "proto3";\npackage toll;\n'
        'import "confluent/meta.proto";\nimport "confluent/type/decimal.proto";\n'
        'import "google/type/date.proto";\n'
        "message Toll {\n"
        '  int32 axles = 1 [(confluent.field_meta).params = {key: "connect.type", value: "int8"}];\n'
        "  confluent.type.Decimal amount = 2;\n"
        "  google.type.Date day = 3;\n"
        "}\n"
    )
    toll = message_factory.GetMessageClass(
        ProtobufSchema(text).pool.FindMessageTypeByName("toll.Toll")
    )
    client = client_of(registry)
    serialize = ProtobufSerializer(toll, client, {"use.deprecated.format": False})
    topic = subject("proto-builtin")
    record = toll(axles=3)
    record.day.year, record.day.month, record.day.day = 2026, 12, 7
    framed = serialize(record, SerializationContext(topic, MessageField.VALUE))
    assert framed is not None and framed[:1] == b"\x00"
    registered = stored(registry, f"{topic}-value")
    assert "references" not in registered  # the built-in imports need none
    assert 'import "google/type/date.proto";' in str(registered["schema"])
    # the same text registered by hand compiles too, and normalizes with the option written out
    name = subject("proto-builtin-text")
    client.register_schema(name, Schema(text, "PROTOBUF"), normalize_schemas=True)
    assert '[(confluent.field_meta) = {\n    params: {\n      key: "connect.type",' in str(
        stored(registry, name)["schema"]
    )
