"""`riverlog produce TOPIC`: one record per input line, like Kafka's console producer.

Lines come from stdin or `--file`, as bytes (the trailing newline, and a CR before it, is dropped).
With `--key-separator` the text before the first separator is the key; a line without it is an
error for that line. A field equal to `--null-value-marker` is sent as null (a tombstone when it is
the value). Records are partitioned with murmur2 like Kafka's Java producer, so a key lands on the
same partition whichever client wrote it. A summary line goes to stderr; the exit code is non-zero
when any line failed or any delivery failed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from riverlog.cli.client import (
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    ClientSettings,
    CommandConfigOption,
    check_partition,
    cli_error,
    create_client,
    error_text,
    fetch_metadata,
    kafka_errors,
    parse_assignments,
    probe_bootstrap,
    topic_partitions,
)
from riverlog.cli.errors import CliError
from riverlog.cli.output import progress_bar
from riverlog.cli.schema_formats import DEFAULT_REGISTRY_URL, Codec, value_encoder, value_format

ACKS = ("0", "1", "all", "-1")
COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
# Bounded so a broker that vanishes mid-run fails the records within a minute, not librdkafka's 5.
MESSAGE_TIMEOUT_MS = 60_000
PROGRESS_MIN_BYTES = 1 << 20  # --file progress bar by default from this size, on a terminal
PROGRESS_EVERY_LINES = 1000


@dataclass
class DeliveryReport:
    """Counts what the broker acknowledged; remembers one message per distinct error."""

    delivered: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        self.errors.setdefault(err.name(), error_text(err))

    def fail_line(self, message: str) -> None:
        self.failed += 1
        print(f"riverlog: {message}", file=sys.stderr)


@dataclass(frozen=True)
class LineParser:
    """Turns one input line into (key, value)."""

    key_separator: bytes | None
    null_marker: bytes | None

    def parse(self, line: bytes) -> tuple[bytes | None, bytes | None]:
        if self.key_separator is None:
            return None, self.nullable(line)
        key, sep, value = line.partition(self.key_separator)
        if not sep:
            raise ValueError(f"no key separator {self.key_separator.decode()!r}")
        return self.nullable(key), self.nullable(value)

    def nullable(self, data: bytes) -> bytes | None:
        return None if data == self.null_marker else data


def read_lines(source: BinaryIO) -> Iterator[bytes]:
    for line in source:
        yield line.removesuffix(b"\n").removesuffix(b"\r")


def parse_headers(
    items: list[str] | None, null_marker: bytes | None
) -> list[tuple[str, bytes | None]]:
    """--header K=V arguments, in order; a key may repeat, as Kafka allows."""
    headers: list[tuple[str, bytes | None]] = []
    for item in items or []:
        key, value = next(iter(parse_assignments([item], "--header").items()))
        headers.append((key, None if value.encode() == null_marker else value.encode()))
    return headers


def producer_config(settings: ClientSettings, acks: str, compression: str) -> dict[str, Any]:
    if acks not in ACKS:
        raise CliError(f"bad --acks {acks!r}: expected 0, 1 or all")
    if compression not in COMPRESSION:
        raise CliError(
            f"bad --compression {compression!r}: expected one of {', '.join(COMPRESSION)}"
        )
    return settings.config(
        **{
            "acks": acks,
            "compression.type": compression,
            "partitioner": "murmur2_random",
            "message.timeout.ms": MESSAGE_TIMEOUT_MS,
        }
    )


@dataclass
class LineSender:
    """Sends parsed lines to one topic (or one partition of it) and counts the outcome."""

    producer: Producer
    topic: str
    partition: int  # -1: let the partitioner choose
    parser: LineParser
    headers: list[tuple[str, bytes | None]]
    report: DeliveryReport = field(default_factory=DeliveryReport)
    value_encoder: Codec | None = None  # --value-format: a JSON line -> wire-format bytes
    key_encoder: Codec | None = None  # --key-format: the same for keys

    def send_line(self, number: int, line: bytes) -> None:
        """Send one input line; a line that cannot be sent counts as an error and the run goes on."""
        try:
            key, value = self.parser.parse(line)
            if self.value_encoder is not None:
                value = self.encode(value)
            if self.key_encoder is not None:
                key = self.encode(key, self.key_encoder)
            self.send(key, value)
        except ValueError as exc:
            self.report.fail_line(f"line {number}: {exc}")
        except KafkaException as exc:
            self.report.fail_line(f"line {number}: {cli_error(exc, 'not sent')}")

    def encode(self, value: bytes | None, encoder: Codec | None = None) -> bytes | None:
        codec = encoder or self.value_encoder
        assert codec is not None
        try:
            return codec(self.topic, value)
        except ValueError:
            raise
        except Exception as exc:  # the registry's or the serializer's refusal of this line
            raise ValueError(str(exc)) from None

    def send(self, key: bytes | None, value: bytes | None) -> None:
        """Queue one record, waiting for room when librdkafka's queue is full."""
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    value,
                    key,
                    self.partition,
                    on_delivery=self.report.on_delivery,
                    headers=list(self.headers) or None,
                )
            except BufferError:
                self.producer.poll(0.1)
                continue
            self.producer.poll(0)
            return

    def drain(self) -> DeliveryReport:
        """Wait until every queued record is acknowledged or failed (message.timeout.ms bounds it)."""
        while self.producer.flush(1.0) > 0:
            pass
        return self.report


def produce(
    topic: Annotated[str, typer.Argument(metavar="TOPIC", help="topic to write to")],
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="FILE", help="read lines from this file instead of stdin"),
    ] = None,
    key_separator: Annotated[
        str | None,
        typer.Option(
            "--key-separator", metavar="SEP", help="the text before it on a line is the key"
        ),
    ] = None,
    header_items: Annotated[
        list[str] | None,
        typer.Option("--header", metavar="K=V", help="K=V header on every record, repeatable"),
    ] = None,
    partition: Annotated[
        int | None,
        typer.Option("--partition", metavar="P", help="write to this partition (default: by key)"),
    ] = None,
    acks: Annotated[str, typer.Option("--acks", metavar="ACKS", help="0, 1 or all")] = "all",
    compression: Annotated[
        str, typer.Option("--compression", metavar="CODEC", help="none, gzip, snappy, lz4 or zstd")
    ] = "none",
    null_marker: Annotated[
        str | None,
        typer.Option(
            "--null-value-marker",
            metavar="MARKER",
            help="a key, value or header equal to it is null",
        ),
    ] = None,
    value_fmt: Annotated[
        str,
        typer.Option(
            "--value-format",
            metavar="FORMAT",
            help="raw, avro, json or protobuf: encode JSON lines",
        ),
    ] = "raw",
    value_schema_file: Annotated[
        Path | None,
        typer.Option(
            "--value-schema-file", metavar="FILE", help="the value schema (.avsc/.json/.proto)"
        ),
    ] = None,
    value_message: Annotated[
        str | None,
        typer.Option(
            "--value-message",
            metavar="NAME",
            help="protobuf: the message to encode (default: the file's first)",
        ),
    ] = None,
    key_fmt: Annotated[
        str,
        typer.Option("--key-format", metavar="FORMAT", help="raw, avro, json or protobuf: keys"),
    ] = "raw",
    key_schema_file: Annotated[
        Path | None,
        typer.Option("--key-schema-file", metavar="FILE", help="the key schema"),
    ] = None,
    key_message: Annotated[
        str | None,
        typer.Option("--key-message", metavar="NAME", help="protobuf: the key's message"),
    ] = None,
    registry_url: Annotated[
        str,
        typer.Option("--registry-url", metavar="URL", help="schema registry for --value-format"),
    ] = DEFAULT_REGISTRY_URL,
    bootstrap: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="progress bar on stderr for --file (default: when stderr is a terminal "
            "and the file is 1 MiB or more)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write one record per line of stdin (or --file) to TOPIC."""
    if key_separator == "":
        raise CliError("bad --key-separator: it must not be empty")
    marker = null_marker.encode() if null_marker is not None else None
    parser = LineParser(key_separator.encode() if key_separator else None, marker)
    headers = parse_headers(header_items, marker)
    encoder = value_encoder(value_format(value_fmt), registry_url, value_schema_file, value_message)
    key_encoder = value_encoder(
        value_format(key_fmt, "--key-format"), registry_url, key_schema_file, key_message, True
    )
    if key_encoder is not None and not key_separator:
        raise CliError("--key-format needs --key-separator (lines carry no key without it)")
    settings = ClientSettings.from_options(bootstrap, command_config)
    config = producer_config(settings, acks, compression)
    with open_source(file) as source:
        probe_bootstrap(settings)
        producer = create_client(Producer, config)
        partitions = topic_partitions(fetch_metadata(producer, settings, topic), topic)
        check_partition(partitions, topic, partition)
        sender = LineSender(
            producer, topic, -1 if partition is None else partition, parser, headers
        )
        sender.value_encoder = encoder
        sender.key_encoder = key_encoder
        size = file.stat().st_size if file is not None else 0
        show = file is not None and (
            progress if progress is not None else sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES
        )
        with (
            kafka_errors(f"cannot produce to {topic!r}"),
            progress_bar(f"producing to {topic}", size, enabled=show) as progressed,
        ):
            for number, line in enumerate(read_lines(source), start=1):
                sender.send_line(number, line)
                if show and number % PROGRESS_EVERY_LINES == 0:
                    progressed(source.tell())
            progressed(size)
            report = sender.drain()
    finish(report, topic)


@contextmanager
def open_source(file: Path | None) -> Iterator[BinaryIO]:
    """The input lines' source: the file, or stdin (left open)."""
    if file is None:
        yield sys.stdin.buffer
        return
    with file.open("rb") as source:
        yield source


def finish(report: DeliveryReport, topic: str) -> None:
    for message in report.errors.values():
        print(f"riverlog: delivery failed: {message}", file=sys.stderr)
    print(
        f"produced {report.delivered} records to {topic}, {report.failed} errors", file=sys.stderr
    )
    if report.failed:
        raise typer.Exit(1)
