"""`riverlog consume TOPIC`: print records to stdout, like Kafka's console consumer.

Without `--group` the consumer assigns partitions itself (no group membership, nothing committed) and
starts at the log end, the beginning, `--offset N` or the first offset at or after `--timestamp`
(ListOffsets by time; a partition with no such record starts at its end). With `--group` it subscribes
(or assigns `--partition` and commits for the group); it resumes from the group's committed offsets,
`--from-beginning` choosing the earliest offset only where none is committed (Kafka's semantics), while
`--offset`/`--timestamp` override the committed position. It stops after `--count` records, after
`--timeout` seconds without a record, or on Ctrl-C; the record count goes to stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, BinaryIO, Protocol

import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from riverlog.cli.client import (
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    ClientSettings,
    CommandConfigOption,
    check_partition,
    create_client,
    error_text,
    fetch_metadata,
    kafka_errors,
    probe_bootstrap,
    topic_partitions,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import ConsumedRecord, RecordFormat, format_record
from riverlog.cli.schema_formats import DEFAULT_REGISTRY_URL, Codec, value_decoder, value_format

ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
# A group id is mandatory in librdkafka even when only assigning; without --group nothing uses it.
UNGROUPED_ID = "riverlog-console-consumer"
POLL_INTERVAL_S = 0.5
BATCH_SIZE = 500
# Errors worth a warning while librdkafka retries (a broker restarting), not the end of the run.
TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT})


class StartKind(enum.Enum):
    END = "end"
    BEGINNING = "beginning"
    COMMITTED = "committed"
    OFFSET = "offset"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class StartPosition:
    """Where each partition starts; `value` is the offset or the timestamp (ms)."""

    kind: StartKind
    value: int = 0

    @property
    def explicit(self) -> bool:
        """True when the position overrides a group's committed offsets."""
        return self.kind in (StartKind.OFFSET, StartKind.TIMESTAMP)


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch, or an ISO 8601 time (local time when it names no zone)."""
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise CliError(
            f"bad --timestamp {text!r}: expected ISO 8601 (2024-05-01T12:00:00Z) or milliseconds"
        ) from None


def start_position(
    from_beginning: bool, offset: int | None, timestamp: str | None, grouped: bool
) -> StartPosition:
    if sum((from_beginning, offset is not None, timestamp is not None)) > 1:
        raise CliError("pass only one of --from-beginning, --offset and --timestamp")
    if offset is not None:
        if offset < 0:
            raise CliError(f"bad --offset {offset}: must be at least 0")
        return StartPosition(StartKind.OFFSET, offset)
    if timestamp is not None:
        return StartPosition(StartKind.TIMESTAMP, parse_timestamp(timestamp))
    if grouped:
        return StartPosition(StartKind.COMMITTED)
    return StartPosition(StartKind.BEGINNING if from_beginning else StartKind.END)


def resolve_offsets(
    consumer: Consumer, partitions: list[TopicPartition], start: StartPosition, timeout: float
) -> list[TopicPartition]:
    """Set each partition's starting offset (a ListOffsets by time for --timestamp)."""
    if start.kind is StartKind.TIMESTAMP:
        query = [TopicPartition(tp.topic, tp.partition, start.value) for tp in partitions]
        with kafka_errors("cannot look up offsets by timestamp"):
            found = consumer.offsets_for_times(query, timeout)
        # No record at or after the time: start at the end, as Kafka's tools do.
        return [
            TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
            for tp in found
        ]
    logical = {
        StartKind.END: OFFSET_END,
        StartKind.BEGINNING: OFFSET_BEGINNING,
        StartKind.COMMITTED: OFFSET_STORED,
        StartKind.OFFSET: start.value,
    }[start.kind]
    return [TopicPartition(tp.topic, tp.partition, logical) for tp in partitions]


def consumer_config(
    settings: ClientSettings, group: str | None, from_beginning: bool, isolation: str
) -> dict[str, Any]:
    if isolation not in ISOLATION_LEVELS:
        raise CliError(
            f"bad --isolation {isolation!r}: expected read_committed or read_uncommitted"
        )
    return settings.config(
        **{
            "group.id": group or UNGROUPED_ID,
            "enable.auto.commit": group is not None,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            # Kafka's consumers read uncommitted by default (librdkafka's default differs).
            "isolation.level": isolation,
            "enable.partition.eof": False,
        }
    )


class RecordSource(Protocol):
    """The part of Consumer that the poll loop uses."""

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...


@dataclass
class RecordPrinter:
    """Writes records to stdout (or `out`) in the chosen format and counts them."""

    fmt: RecordFormat
    print_key: bool
    print_headers: bool
    out: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    printed: int = 0
    value_decoder: Codec | None = None  # --value-format: wire-format bytes -> JSON
    key_decoder: Codec | None = None  # --key-format: the same for keys

    def print_batch(self, messages: list[Message]) -> None:
        data = b"".join(
            format_record(
                self.decoded(detach(m)),
                self.fmt,
                print_key=self.print_key,
                print_headers=self.print_headers,
            )
            for m in messages
        )
        self.out.write(data)
        self.out.flush()
        self.printed += len(messages)

    def decoded(self, record: ConsumedRecord) -> ConsumedRecord:
        """The record with its value (and key) decoded by --value-format (--key-format); each is left
        as it is when it cannot be."""
        if self.value_decoder is not None:
            value = self._decode(record, record.value, self.value_decoder, "value")
            record = dataclasses.replace(record, value=value)
        if self.key_decoder is not None:
            key = self._decode(record, record.key, self.key_decoder, "key")
            record = dataclasses.replace(record, key=key)
        return record

    @staticmethod
    def _decode(
        record: ConsumedRecord, data: bytes | None, codec: Codec, side: str
    ) -> bytes | None:
        try:
            return codec(record.topic, data)
        except Exception as exc:  # one undecodable record is reported, the run goes on
            print(
                f"riverlog: warning: {record.topic}[{record.partition}]@{record.offset}: "
                f"cannot decode the {side} ({exc}); printed as it is",
                file=sys.stderr,
            )
            return data


def detach(msg: Message) -> ConsumedRecord:
    return ConsumedRecord(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        timestamp=msg.timestamp()[1],
        key=msg.key(),
        value=msg.value(),
        headers=[
            (k, v if v is None or isinstance(v, bytes) else v.encode()) for k, v in headers_of(msg)
        ],
    )


def headers_of(msg: Message) -> list[tuple[str, bytes | str | None]]:
    headers = msg.headers()
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


@dataclass
class ErrorPolicy:
    """Which consumer errors end the run; transient ones are reported once each and retried."""

    warned: set[int]

    def records(self, messages: list[Message]) -> list[Message]:
        """The records among `messages`; raises CliError on a fatal error."""
        records = []
        for msg in messages:
            err = msg.error()
            if err is None:
                records.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                continue
            elif err.code() in TRANSIENT or (err.retriable() and not err.fatal()):
                self.maybe_warn(err)
            else:
                raise CliError(f"consume failed: {error_text(err)}")
        return records

    def maybe_warn(self, err: KafkaError) -> None:
        if err.code() not in self.warned:
            self.warned.add(err.code())
            print(f"riverlog: warning: {error_text(err)} (retrying)", file=sys.stderr)


def poll_loop(
    consumer: RecordSource,
    printer: RecordPrinter,
    count: int | None,
    idle_timeout: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Consume until `count` records were printed or nothing arrived for `idle_timeout` seconds."""
    policy = ErrorPolicy(set())
    last_record = clock()
    while count is None or printer.printed < count:
        wait = POLL_INTERVAL_S
        if idle_timeout is not None:
            wait = max(0.0, min(wait, last_record + idle_timeout - clock()))
        want = BATCH_SIZE if count is None else min(BATCH_SIZE, count - printer.printed)
        records = policy.records(consumer.consume(num_messages=want, timeout=wait))
        if records:
            printer.print_batch(records)
            last_record = clock()
        elif idle_timeout is not None and clock() - last_record >= idle_timeout:
            return


def consume(
    topic: Annotated[str, typer.Argument(metavar="TOPIC", help="topic to read")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the earliest offset")
    ] = False,
    offset: Annotated[
        int | None, typer.Option("--offset", metavar="N", help="start at this offset")
    ] = None,
    timestamp: Annotated[
        str | None,
        typer.Option(
            "--timestamp",
            metavar="TIME",
            help="start at the first record at/after this ISO 8601 or ms",
        ),
    ] = None,
    partition: Annotated[
        int | None, typer.Option("--partition", metavar="P", help="read only this partition")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", metavar="GROUP", help="consume as a member of this group"),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", metavar="N", help="stop after N records")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", help="stop after this many seconds without records"
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="text, json or kcat-like")
    ] = "text",
    print_key: Annotated[bool, typer.Option("--print-key", help="print record keys")] = False,
    print_headers: Annotated[
        bool, typer.Option("--print-headers", help="print record headers")
    ] = False,
    isolation: Annotated[
        str, typer.Option("--isolation", metavar="LEVEL", help="read_uncommitted or read_committed")
    ] = "read_uncommitted",
    value_fmt: Annotated[
        str,
        typer.Option(
            "--value-format", metavar="FORMAT", help="raw, avro, json or protobuf (a registry's)"
        ),
    ] = "raw",
    key_fmt: Annotated[
        str,
        typer.Option("--key-format", metavar="FORMAT", help="raw, avro, json or protobuf: keys"),
    ] = "raw",
    registry_url: Annotated[
        str,
        typer.Option("--registry-url", metavar="URL", help="schema registry for --value-format"),
    ] = DEFAULT_REGISTRY_URL,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Print records of TOPIC to stdout."""
    if count is not None and count < 1:
        raise CliError(f"bad --count {count}: must be at least 1")
    if timeout is not None and timeout <= 0:
        raise CliError(f"bad --timeout {timeout}: must be more than 0 seconds")
    printer = RecordPrinter(record_format(fmt), print_key, print_headers)
    printer.value_decoder = value_decoder(value_format(value_fmt), registry_url)
    printer.key_decoder = value_decoder(value_format(key_fmt, "--key-format"), registry_url, True)
    start = start_position(from_beginning, offset, timestamp, group is not None)
    settings = ClientSettings.from_options(bootstrap, command_config)
    config = consumer_config(settings, group, from_beginning, isolation)
    probe_bootstrap(settings)
    consumer = create_client(Consumer, config)
    try:
        partitions = topic_partitions(fetch_metadata(consumer, settings, topic), topic)
        check_partition(partitions, topic, partition)
        chosen = partitions if partition is None else [partition]
        join(
            consumer,
            topic,
            chosen,
            start,
            settings,
            subscribe=group is not None and partition is None,
        )
        with kafka_errors(f"cannot consume from {topic!r}"):
            poll_loop(consumer, printer, count, timeout)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        silence_stdout()
    finally:
        consumer.close()
    print(f"consumed {printer.printed} records from {topic}", file=sys.stderr)


def join(
    consumer: Consumer,
    topic: str,
    partitions: list[int],
    start: StartPosition,
    settings: ClientSettings,
    *,
    subscribe: bool,
) -> None:
    """Subscribe as a group member, or assign the partitions directly."""
    timeout = settings.socket_timeout_s
    if not subscribe:
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(resolve_offsets(consumer, assignment, start, timeout))
        return

    def on_assign(member: Consumer, assigned: list[TopicPartition]) -> None:
        if start.explicit:
            member.assign(resolve_offsets(member, assigned, start, timeout))

    consumer.subscribe([topic], on_assign=on_assign)


def record_format(name: str) -> RecordFormat:
    try:
        return RecordFormat(name)
    except ValueError:
        choices = ", ".join(f.value for f in RecordFormat)
        raise CliError(f"bad --format {name!r}: expected one of {choices}") from None


def silence_stdout() -> None:
    """The reader went away (`| head`): stop quietly, and keep Python from failing on exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
