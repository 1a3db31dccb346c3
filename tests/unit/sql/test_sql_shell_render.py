"""The shell prints ASSERT results as ksqlDB's console does (its approved console outputs)."""

from __future__ import annotations

import io

from riverlog.sql.shell import Shell


def render(entity: dict[str, object]) -> str:
    out = io.StringIO()
    Shell("http://127.0.0.1:1", out=out).render(entity)
    return out.getvalue().strip()


def test_assert_topic_and_schema_results() -> None:
    topic = {"@type": "assert_topic", "topicName": "name", "exists": True, "warnings": []}
    assert render(topic) == "Topic name exists."
    assert render({**topic, "exists": False}) == "Topic name does not exist."
    schema = {"@type": "assert_schema", "subject": "abc", "id": 55, "exists": True}
    assert render(schema) == "Schema with subject abc id 55 exists."
    assert (
        render({**schema, "subject": None, "exists": False}) == "Schema with id 55 does not exist."
    )
