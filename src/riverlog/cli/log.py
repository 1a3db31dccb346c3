"""`riverlog log dump PATH...`: what is inside partition log files (Kafka's DumpLogSegments).

Reads files directly (no broker needed; safe on a running broker's files, read-only):
- `<base>.log`: one row per batch — base/last offset, record count, first/max timestamp, codec,
  producer id/epoch/base sequence, transactional/control flags (and COMMIT/ABORT for markers),
  delete horizon, partition leader epoch, position, size, whether the CRC holds; `--records`
  adds every record (offset, timestamp, key, value, headers), decompressed.
- `<base>.index`, `.timeindex`, `.txnindex`: their entries.
Output: rich tables, or with `--json` one JSON object per line (a batch carries its records
under "records"; bytes are UTF-8 text, else base64 with a `<field>_encoding` marker, as
`riverlog consume --format json`). Tables show non-UTF-8 bytes as 0x-hex; they are built in
memory, so for a large segment prefer `--json`, which streams batch by batch.
A torn or corrupt end of file is reported on stderr after the rows (exit code 0, like Kafka's
tool); a missing or unknown file is a one-line error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from riverlog.cli.errors import CliError
from riverlog.cli.output import put_bytes, stdout_console

if TYPE_CHECKING:
    from riverlog.storage.dump import BatchRow

app = typer.Typer(help="Inspect partition log files on disk.", no_args_is_help=True)

BATCH_COLUMNS = (
    "base offset", "last offset", "count", "first timestamp", "max timestamp", "codec",
    "producer id", "producer epoch", "base sequence", "transactional", "control",
    "leader epoch", "position", "size", "crc valid",
)  # fmt: skip


@app.command("dump")
def dump(
    paths: Annotated[list[Path], typer.Argument(help="segment files: .log, .index, .timeindex")],
    records: Annotated[bool, typer.Option("--records", help="also print every record")] = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="JSON lines instead of tables")
    ] = False,
) -> None:
    """Print the batches of a .log segment (or the entries of an index file)."""
    # Storage is server code: imported here, so other client commands stay light.
    from riverlog.storage.dump import DumpError, file_kind

    for path in paths:
        if path.is_dir():
            raise CliError(f"{path} is a directory: give a segment file such as "
                           f"{path / '00000000000000000000.log'}")  # fmt: skip
        if not path.exists():
            raise CliError(f"no such file: {path}")
        try:
            file_kind(path)
        except DumpError as exc:
            raise CliError(str(exc)) from None
    for path in paths:
        try:
            problem = print_json(path, records) if json_lines else print_tables(path, records)
        except DumpError as exc:
            raise CliError(str(exc)) from None
        if problem:
            print(f"riverlog: warning: {path}: {problem}", file=sys.stderr)


def print_json(path: Path, records: bool) -> str | None:
    """One JSON object per row; returns the problem at the end of the file, if any."""
    from riverlog.storage.dump import BatchRow, iter_file

    out = sys.stdout
    for row in iter_file(path, records=records):
        if isinstance(row, str):
            return row
        obj = batch_json(row) if isinstance(row, BatchRow) else row_fields(row)
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return None


def row_fields(row: object) -> dict[str, Any]:
    slots: tuple[str, ...] = getattr(row, "__slots__", ())
    return {name: getattr(row, name) for name in slots}


def batch_json(row: BatchRow) -> dict[str, Any]:
    obj = row_fields(row)
    obj.pop("records")
    if obj["error"] is None:
        obj.pop("error")
    if row.records is not None:
        obj["records"] = [record_json(r) for r in row.records]
    return obj


def record_json(record: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"offset": record.offset, "timestamp": record.timestamp}
    put_bytes(obj, "key", record.key)
    put_bytes(obj, "value", record.value)
    headers = []
    for key, value in record.headers:
        header: dict[str, Any] = {"key": key}
        put_bytes(header, "value", value)
        headers.append(header)
    obj["headers"] = headers
    return obj


def print_tables(path: Path, records: bool) -> str | None:
    """A table of the rows (and one of the records); returns the problem at the end, if any."""
    from riverlog.storage.dump import BatchRow, iter_file

    rows, problem = [], None
    for row in iter_file(path, records=records):
        if isinstance(row, str):
            problem = row
        else:
            rows.append(row)
    console = stdout_console()
    console.print(Text(str(path), style="bold"))
    if rows and isinstance(rows[0], BatchRow):
        console.print(batch_table(rows))
        if records:
            console.print(records_table(rows))
    else:
        console.print(entries_table(rows))
    return problem


def batch_table(rows: list[Any]) -> Table:
    table = Table()
    for column in BATCH_COLUMNS:
        table.add_column(column, justify="right" if column != "codec" else "left")
    for row in rows:
        control = str(row.is_control).lower() + (f" {row.control_type}" if row.control_type else "")
        table.add_row(*(Text(str(v)) for v in (
            row.base_offset, row.last_offset, row.count,
            row.first_timestamp if row.delete_horizon_ms is None
            else f"{row.first_timestamp} (delete horizon)",
            row.max_timestamp, row.codec, row.producer_id, row.producer_epoch,
            row.base_sequence, str(row.is_transactional).lower(), control,
            row.partition_leader_epoch, row.position, row.size, str(row.crc_valid).lower(),
        )))  # fmt: skip
    return table


def records_table(rows: list[Any]) -> Table:
    table = Table(title="records", title_justify="left")
    for column in ("batch", "offset", "timestamp", "key", "value", "headers"):
        table.add_column(column, justify="right" if column in ("batch", "offset") else "left")
    for row in rows:
        if row.error:
            table.add_row(Text(str(row.base_offset)), Text(f"undecodable: {row.error}"))
        for record in row.records or ():
            headers = ",".join(f"{k}:{show(v)}" for k, v in record.headers)
            table.add_row(*(Text(str(v)) for v in (
                row.base_offset, record.offset, record.timestamp, show(record.key),
                show(record.value), headers,
            )))  # fmt: skip
    return table


def entries_table(rows: list[Any]) -> Table:
    table = Table()
    if not rows:
        table.add_column("(no entries)")
        return table
    names = row_fields(rows[0]).keys()
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row_fields(row).values()))
    return table


def show(data: bytes | None) -> str:
    """Bytes for a table cell: printable UTF-8 text, `null`, or 0x-hex."""
    if data is None:
        return "null"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return text if text.isprintable() else "0x" + data.hex()
