"""Metadata requests naming topics by id, through the Dispatcher (bytes in, bytes out), as Kafka answers.

v10 and v11 carry the id field but Kafka refuses ids (and null names) there with INVALID_REQUEST;
v12+ answers by id. Issue 19: a v11 request naming a topic by id with a null name made the handler
build a response it could not encode, and the broker closed the connection.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kio.schema.errors import ErrorCode
from test_admin_handlers import call, create, make_services, rq

from riverlog.broker.handlers import metadata
from riverlog.broker.network.dispatch import Dispatcher
from riverlog.protocol.codec import decode_response

ZERO = uuid.UUID(int=0)
SOME_ID = uuid.UUID("6f1c2b7e-0d4a-4c8e-9a55-3e2f1b0c9d77")
# The fuzzer's frame (size prefix included): Metadata v11, an unknown id with a null name, then
# another id with the name "fuzz-c".
FUZZ_FRAME = bytes.fromhex(
    "0000003d0003000b00001735000466757a7a0003363c27dbfdb06b4dcbd0d90703c1914b0000926d4a95053b493c"
    "84bd38d9fff022bb0766757a7a2d6300000000"
)


def topics_request(version: int, *topics: tuple[str | None, uuid.UUID]) -> object:
    schema = rq(metadata, version)
    return schema.MetadataRequest(
        topics=tuple(schema.MetadataRequestTopic(name=n, topic_id=i) for n, i in topics),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
        include_cluster_authorized_operations=False,  # v10 only
    )


def test_the_fuzz_frame_is_answered_with_invalid_request() -> None:
    services = make_services()
    dispatcher = Dispatcher(services, [metadata])  # type: ignore[list-item]
    answer = asyncio.run(dispatcher.handle(FUZZ_FRAME[4:], "127.0.0.1"))
    assert answer is not None
    response = decode_response(answer[4:], metadata.API_KEY, 11)
    assert response.correlation_id == 0x1735
    body = response.body
    assert [(t.error_code, t.name) for t in body.topics] == [
        (ErrorCode.invalid_request, ""),
        (ErrorCode.invalid_request, "fuzz-c"),
    ]
    assert body.topics[0].topic_id == uuid.UUID("363c27db-fdb0-6b4d-cbd0-d90703c1914b")
    assert body.brokers == () and body.controller_id == -1


@pytest.mark.parametrize("version", [10, 11])
@pytest.mark.parametrize(
    "topic",
    [(None, ZERO), ("known", SOME_ID), (None, SOME_ID)],
    ids=["null name", "name and id", "id alone"],
)
def test_ids_and_null_names_before_v12_are_invalid_request(
    version: int, topic: tuple[str | None, uuid.UUID]
) -> None:
    services = make_services()
    create(services.topics, "known")
    body = call(services, metadata, version, topics_request(version, ("known", ZERO), topic))
    assert [t.error_code for t in body.topics] == [ErrorCode.invalid_request] * 2
    assert all(t.partitions == () for t in body.topics)


@pytest.mark.parametrize("version", [10, 11])
def test_names_alone_before_v12_are_answered(version: int) -> None:
    services = make_services()
    create(services.topics, "known", num_partitions=2)
    body = call(services, metadata, version, topics_request(version, ("known", ZERO)))
    [topic] = body.topics
    assert (topic.error_code, topic.name, len(topic.partitions)) == (ErrorCode.none, "known", 2)


@pytest.mark.parametrize("version", [12, 13])
def test_from_v12_topics_are_answered_by_id(version: int) -> None:
    services = make_services()
    known = create(services.topics, "known", num_partitions=3)
    unknown = uuid.uuid4()
    request = topics_request(version, (None, known.topic_id), (None, unknown), ("ignored", ZERO))
    body = call(services, metadata, version, request)
    assert [(t.error_code, t.name, t.topic_id) for t in body.topics] == [
        (ErrorCode.none, "known", known.topic_id),
        (ErrorCode.unknown_topic_id, None, unknown),
    ]
    assert len(body.topics[0].partitions) == 3
