"""`_schemas` records byte for byte as Confluent writes them, and the state they replay into."""

from __future__ import annotations

from riverlog.registry.records import (
    KeyType,
    RegistryKey,
    SchemaValue,
    config_value,
    delete_subject_value,
    mode_value,
)
from riverlog.registry.state import RegistryState
from riverlog.schema.types import SchemaReference, SchemaType


def test_keys_are_confluents_bytes() -> None:
    assert (
        RegistryKey(KeyType.SCHEMA, "t-value", 1).encode()
        == b'{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}'
    )
    assert (
        RegistryKey(KeyType.CONFIG, None).encode()
        == b'{"keytype":"CONFIG","subject":null,"magic":0}'
    )
    assert RegistryKey(KeyType.MODE, "s").encode() == b'{"keytype":"MODE","subject":"s","magic":0}'
    assert (
        RegistryKey(KeyType.DELETE_SUBJECT, "s").encode()
        == b'{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}'
    )
    assert RegistryKey(KeyType.NOOP).encode() == b'{"keytype":"NOOP","magic":0}'


def test_values_are_confluents_shapes() -> None:
    avro = SchemaValue("t-value", 1, 1, '"string"')
    assert avro.encode() == (
        b'{"subject":"t-value","version":1,"id":1,"schema":"\\"string\\"","deleted":false}'
    )
    proto = SchemaValue(
        "p", 2, 7, "syntax", SchemaType.PROTOBUF, (SchemaReference("o.proto", "o", 1),), True
    )
    assert proto.encode() == (
        b'{"subject":"p","version":2,"id":7,"schemaType":"PROTOBUF",'
        b'"references":[{"name":"o.proto","subject":"o","version":1}],'
        b'"schema":"syntax","deleted":true}'
    )
    assert SchemaValue.decode(proto.encode()) == proto
    assert config_value("FULL") == b'{"compatibilityLevel":"FULL"}'
    assert mode_value("READONLY") == b'{"mode":"READONLY"}'
    assert delete_subject_value("s", 3) == b'{"subject":"s","version":3}'


def replay(records: list[tuple[bytes | None, bytes | None]]) -> RegistryState:
    state = RegistryState()
    for offset, (key, value) in enumerate(records):
        state.apply(offset, key, value)
    return state


def schema_record(
    subject: str, version: int, schema_id: int, deleted: bool = False
) -> tuple[bytes, bytes]:
    key = RegistryKey(KeyType.SCHEMA, subject, version).encode()
    return key, SchemaValue(subject, version, schema_id, f'"{schema_id}"', deleted=deleted).encode()


def test_replay_builds_subjects_ids_and_settings() -> None:
    state = replay(
        [
            schema_record("a", 1, 1),
            schema_record("a", 2, 2),
            schema_record("b", 1, 1),
            (RegistryKey(KeyType.CONFIG, None).encode(), config_value("FULL")),
            (RegistryKey(KeyType.CONFIG, "a").encode(), config_value("NONE")),
            (RegistryKey(KeyType.MODE, "b").encode(), mode_value("READONLY")),
            (RegistryKey(KeyType.NOOP).encode(), None),
            (b'{"keytype":"SOMETHING_NEW","magic":0}', b"{}"),  # unknown key types are skipped
            (b"not json", b"{}"),  # and so are undecodable records
        ]
    )
    assert state.subjects() == ["a", "b"]
    assert [v.version for v in state.subject_versions("a")] == [1, 2]
    assert sorted(state.by_id) == [1, 2] and state.max_id == 2
    assert state.config == {None: "FULL", "a": "NONE"}
    assert state.mode == {"b": "READONLY"}
    assert state.offset == 8


def test_soft_and_hard_deletes_replay() -> None:
    state = replay(
        [
            schema_record("a", 1, 1),
            schema_record("a", 2, 2),
            schema_record("a", 1, 1, deleted=True),  # DELETE /subjects/a/versions/1
            (RegistryKey(KeyType.DELETE_SUBJECT, "a").encode(), delete_subject_value("a", 2)),
        ]
    )
    assert state.subject_versions("a") == []
    assert [v.version for v in state.subject_versions("a", deleted=True)] == [1, 2]
    assert state.subjects() == [] and state.subjects(deleted=True) == ["a"]
    # permanent deletes are tombstones; the ids go, the high-water id stays
    state.apply(4, RegistryKey(KeyType.SCHEMA, "a", 1).encode(), None)
    state.apply(5, RegistryKey(KeyType.SCHEMA, "a", 2).encode(), None)
    assert state.subjects(deleted=True) == [] and state.by_id == {}
    assert state.max_id == 2


def test_settings_are_removed_by_tombstones() -> None:
    key = RegistryKey(KeyType.CONFIG, "a").encode()
    state = replay([(key, config_value("FULL")), (key, None)])
    assert state.config == {}
