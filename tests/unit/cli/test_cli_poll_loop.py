"""`riverlog consume`'s poll loop with a scripted consumer and a fake clock: no broker, no sleeps."""

from __future__ import annotations

import io
from collections import deque

import pytest
from confluent_kafka import KafkaError, Message

from riverlog.cli.consume import RecordPrinter, poll_loop
from riverlog.cli.errors import CliError
from riverlog.cli.output import RecordFormat


class ScriptedConsumer:
    """Returns the scripted batches in turn; an empty batch waits out its timeout on the fake clock."""

    def __init__(self, *batches: list[Message]) -> None:
        self.batches = deque(batches)
        self.now = 0.0
        self.asked: list[int] = []

    def clock(self) -> float:
        return self.now

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self.asked.append(num_messages)
        batch = self.batches.popleft() if self.batches else []
        if not batch:
            self.now += timeout
        return batch[:num_messages]


def records(*values: bytes) -> list[Message]:
    return [
        Message(topic="t", partition=0, offset=i, value=v, timestamp=(1, 0))
        for i, v in enumerate(values)
    ]


def error(code: int) -> Message:
    return Message(error=KafkaError(code))


def printer() -> RecordPrinter:
    return RecordPrinter(RecordFormat.TEXT, print_key=False, print_headers=False, out=io.BytesIO())


def output(p: RecordPrinter) -> bytes:
    assert isinstance(p.out, io.BytesIO)
    return p.out.getvalue()


def test_stops_after_count_without_asking_for_more() -> None:
    consumer = ScriptedConsumer(records(b"a", b"b"), records(b"c", b"d", b"e"))
    p = printer()
    poll_loop(consumer, p, count=3, idle_timeout=None, clock=consumer.clock)
    assert output(p) == b"a\nb\nc\n"
    assert consumer.asked == [3, 1]


def test_idle_timeout_counts_from_the_last_record() -> None:
    consumer = ScriptedConsumer([], records(b"a"), [], [], [], [], [], records(b"late"))
    p = printer()
    poll_loop(consumer, p, count=None, idle_timeout=1.2, clock=consumer.clock)
    # 0.5 idle, then a record; after it 0.5 + 0.5 + 0.2 = 1.2 s idle ends the run before "late".
    assert output(p) == b"a\n"
    assert consumer.now == pytest.approx(1.7)


def test_partition_eof_is_skipped_and_transient_errors_warn_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    transport = error(KafkaError._TRANSPORT)
    consumer = ScriptedConsumer(
        [error(KafkaError._PARTITION_EOF)], [transport], [transport], records(b"a")
    )
    p = printer()
    poll_loop(consumer, p, count=1, idle_timeout=None, clock=consumer.clock)
    assert output(p) == b"a\n"
    assert capsys.readouterr().err.count("warning: _TRANSPORT") == 1


def test_other_errors_end_the_run_with_their_name() -> None:
    consumer = ScriptedConsumer([error(KafkaError.TOPIC_AUTHORIZATION_FAILED)])
    with pytest.raises(CliError, match="consume failed: TOPIC_AUTHORIZATION_FAILED: "):
        poll_loop(consumer, printer(), count=None, idle_timeout=1, clock=consumer.clock)
