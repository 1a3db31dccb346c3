"""The generated typed views (riverlog.protocol.messages) against kio, and their conversion.

- Every view field exists in some served version of kio's class of that name, and every field of every
  served version's class is in the view: the modules are up to date with kio and the handler table.
- A field that no version has is an error where a handler builds it (TypeError, and mypy's too), and
  the checker the first test uses names such a field in a hand-written view.
- view -> kio (each version) -> bytes -> kio -> view keeps every field the version carries.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import io
from types import ModuleType

import pytest
from kio.index import load_payload_module
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.static.constants import EntityType

from riverlog.broker.handlers import HANDLERS, HandlerSpec
from riverlog.protocol.messages import list_offsets, metadata
from riverlog.protocol.views import Message, from_entity, to_entity, unknown_fields


def _kio_classes(spec: HandlerSpec) -> dict[str, list[type]]:
    found: dict[str, list[type]] = {}
    for entity in (EntityType.request, EntityType.response):
        for version in range(spec.MIN_VERSION, spec.MAX_VERSION + 1):
            try:
                module = load_payload_module(spec.API_KEY, version, entity)
            except Exception:  # kio has no such version
                continue
            for value in vars(module).values():
                ours = isinstance(value, type) and value.__module__ == module.__name__
                if ours and dataclasses.is_dataclass(value):
                    found.setdefault(value.__name__, []).append(value)
    return found


def _views(module: ModuleType) -> dict[str, type[Message]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Message) and value is not Message
    }


@pytest.mark.parametrize("spec", HANDLERS, ids=lambda spec: spec.name)
def test_views_match_kio(spec: HandlerSpec) -> None:
    views = _views(importlib.import_module(f"riverlog.protocol.messages.{spec.name}"))
    kio_classes = _kio_classes(spec)
    assert set(views) == set(kio_classes)
    for name, view in views.items():
        assert unknown_fields(view, kio_classes[name]) == [], name
        view_fields = {f.name for f in dataclasses.fields(view)}
        for cls in kio_classes[name]:
            assert {f.name for f in dataclasses.fields(cls)} <= view_fields, (name, cls)


def test_a_field_no_version_has_is_refused() -> None:
    with pytest.raises(TypeError, match="ofset"):
        list_offsets.ListOffsetsPartitionResponse(
            partition_index=0,
            error_code=ErrorCode.none,
            ofset=5,  # type: ignore[call-arg]
        )

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class ListOffsetsTopicResponse(Message):  # a hand-written view with a misspelled field
        name: str
        partition: tuple[int, ...] = ()

    spec = next(s for s in HANDLERS if s.name == "list_offsets")
    kio = _kio_classes(spec)["ListOffsetsTopicResponse"]
    assert unknown_fields(ListOffsetsTopicResponse, kio) == ["partition"]


def _round_trip(view: Message, api_key: int, version: int, entity_type: EntityType) -> Message:
    module = load_payload_module(api_key, version, entity_type)
    entity = to_entity(view, module)
    buffer = io.BytesIO()
    entity_writer(type(entity))(buffer, entity)
    decoded, _size = entity_reader(type(entity))(buffer.getvalue(), 0)
    return from_entity(type(view), decoded)


@pytest.mark.parametrize("version", range(1, 11))
def test_response_round_trip_every_version(version: int) -> None:
    view = list_offsets.ListOffsetsResponse(
        throttle_time=datetime.timedelta(milliseconds=5),
        topics=(
            list_offsets.ListOffsetsTopicResponse(
                name="t",
                partitions=(
                    list_offsets.ListOffsetsPartitionResponse(
                        partition_index=3,
                        error_code=ErrorCode.none,
                        timestamp=17,
                        offset=42,
                        leader_epoch=2,
                    ),
                ),
            ),
        ),
    )
    back = _round_trip(view, 2, version, EntityType.response)
    assert isinstance(back, list_offsets.ListOffsetsResponse)
    [partition] = back.topics[0].partitions
    assert partition.offset == 42 and partition.partition_index == 3
    assert partition.leader_epoch == (2 if version >= 4 else -1)  # v4 added it; -1: the default
    assert back.throttle_time == (view.throttle_time if version >= 2 else datetime.timedelta(0))


@pytest.mark.parametrize("version", [0, 9, 10, 12])
def test_request_views_take_defaults_for_missing_fields(version: int) -> None:
    """A nullable array of nested structs converts item by item; fields a version lacks read as the
    view's default (Kafka's for that field)."""
    view = metadata.MetadataRequest(
        topics=(metadata.MetadataRequestTopic(name="t"),),
        allow_auto_topic_creation=False,
    )
    back = _round_trip(view, 3, version, EntityType.request)
    assert isinstance(back, metadata.MetadataRequest)
    assert back.topics is not None
    [topic] = back.topics
    assert isinstance(topic, metadata.MetadataRequestTopic)
    assert topic.name == "t"
    assert topic.topic_id is None or topic.topic_id.int == 0
    assert back.allow_auto_topic_creation is (version < 4)  # v4 added it; default true
