"""How the client commands print: consumed records (text, json, kcat-like) and rich tables.

Record formats, one record per line on stdout:
- text: like Kafka's console consumer — `[headers<TAB>][key<TAB>]value`, raw bytes; a null key or
  value prints as `null`, headers as `k:v,k:v` (or `NO_HEADERS`).
- json: one object per line with topic, partition, offset, timestamp (ms), key, value and headers (a
  list of {"key", "value"}). Bytes are UTF-8 text when valid, else base64 — and then the object gets
  `<field>_encoding: "base64"` beside it so a reader can tell.
- kcat-like: `topic [partition] @ offset: ` then `key <key>: ` / `headers <h>: ` when asked, then value.

List/describe commands take `--output table|json` (`OutputOption`): they build plain data (lists and
dicts) once, then `print_json` it or render it as rich tables (`styled_table`), so both show the same.
"""

from __future__ import annotations

import base64
import enum
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

Headers = Sequence[tuple[str, bytes | None]]


class RecordFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    KCAT = "kcat-like"


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """A record as the consumer returned it, detached from librdkafka's Message."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", help="table (for people) or json (for scripts)", case_sensitive=False),
]


def print_json(data: Any) -> None:
    """Data as indented JSON on stdout (one document)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def styled_table(*columns: str, title: str | None = None) -> Table:
    """The CLI's table look: bold cyan headers, the first column highlighted."""
    table = Table(title=title, header_style="bold cyan", title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, style="green" if i == 0 else None)
    return table


class Progressed(Protocol):
    def __call__(self, completed: float) -> None: ...


@contextmanager
def progress_bar(
    description: str, total: float, *, enabled: bool, unit: str = "bytes"
) -> Iterator[Progressed]:
    """A rich progress bar on stderr (bytes with speed, or a count); a no-op when not `enabled`.

    The context's value takes how much is done so far (not an increment).
    """
    if not enabled:
        yield lambda _completed: None
        return
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total)
        yield lambda completed: progress.update(task, completed=completed)


def stdout_console() -> Console:
    """A console for tables; wide when piped so columns are never truncated."""
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)


def format_record(
    record: ConsumedRecord, fmt: RecordFormat, *, print_key: bool, print_headers: bool
) -> bytes:
    """One output line (with its newline) for a consumed record."""
    if fmt is RecordFormat.JSON:
        return json.dumps(record_json(record), ensure_ascii=False).encode() + b"\n"
    if fmt is RecordFormat.KCAT:
        return kcat_line(record, print_key=print_key, print_headers=print_headers)
    return text_line(record, print_key=print_key, print_headers=print_headers)


def text_line(record: ConsumedRecord, *, print_key: bool, print_headers: bool) -> bytes:
    fields = []
    if print_headers:
        fields.append(headers_text(record.headers))
    if print_key:
        fields.append(or_null(record.key))
    fields.append(or_null(record.value))
    return b"\t".join(fields) + b"\n"


def kcat_line(record: ConsumedRecord, *, print_key: bool, print_headers: bool) -> bytes:
    line = f"{record.topic} [{record.partition}] @ {record.offset}: ".encode()
    if print_key:
        line += b"key " + or_null(record.key) + b": "
    if print_headers:
        line += b"headers " + headers_text(record.headers) + b": "
    return line + or_null(record.value) + b"\n"


def or_null(data: bytes | None) -> bytes:
    return b"null" if data is None else data


def headers_text(headers: Headers) -> bytes:
    if not headers:
        return b"NO_HEADERS"
    return b",".join(key.encode() + b":" + or_null(value) for key, value in headers)


def record_json(record: ConsumedRecord) -> dict[str, Any]:
    """The json format's object for one record."""
    obj: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }
    put_bytes(obj, "key", record.key)
    put_bytes(obj, "value", record.value)
    headers = []
    for key, value in record.headers:
        header: dict[str, Any] = {"key": key}
        put_bytes(header, "value", value)
        headers.append(header)
    obj["headers"] = headers
    return obj


def put_bytes(obj: dict[str, Any], name: str, data: bytes | None) -> None:
    """Store bytes as text when they are UTF-8, else base64 with a `<name>_encoding` marker."""
    if data is None:
        obj[name] = None
        return
    try:
        obj[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        obj[name] = base64.b64encode(data).decode("ascii")
        obj[f"{name}_encoding"] = "base64"
