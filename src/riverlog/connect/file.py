"""FileStreamSource / FileStreamSink, with Kafka's keys (`file`, `topic`/`topics`, `batch.size`) and
offsets: source partition `{"filename": <file>}`, offset `{"position": <n>}`.

The source reads lines (`\\n`, `\\r\\n` or `\\r` ended; a last line without its ending waits for it) and
sends each as a STRING value with no key. `position` counts bytes from the start of the file (Kafka's
counts characters of its reader; the two agree for ASCII files). The sink writes each record's value as
text and a newline, and flushes the file when offsets are committed.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from riverlog.common.configdef import ConfigDef, Importance, Type, in_range
from riverlog.connect.api import (
    SinkConnector,
    SinkRecord,
    SinkTask,
    SourceBatch,
    SourceConnector,
    SourceTask,
    Task,
    TopicPartition,
)
from riverlog.connect.data import STRING_SCHEMA, Struct
from riverlog.connect.errors import ConfigException, ConnectException
from riverlog.connect.json_format import java_double

FILENAME_FIELD, POSITION_FIELD = "filename", "position"


def _check_single_topic(name: str, value: Any) -> None:
    if value is None or "," in str(value) or not str(value).strip():
        raise ValueError(
            "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"
        )


class FileStreamSourceConnector(SourceConnector):
    config_def = (
        ConfigDef()
        .define(
            "file",
            Type.STRING,
            None,
            None,
            Importance.HIGH,
            "Source filename. If not specified, the standard input will be used",
        )
        .define(
            "topic",
            Type.STRING,
            None,
            _check_single_topic,
            Importance.HIGH,
            "The topic to publish data to",
        )
        .define(
            "batch.size",
            Type.INT,
            2000,
            in_range(1),
            Importance.LOW,
            "The maximum number of records the source task can read from the file each time it is polled",
        )
    )

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)
        parsed = self.config_def.parse(
            {k: v for k, v in props.items() if k in self.config_def}, allow_unknown=True
        )
        if parsed["topic"] is None:
            raise ConfigException(
                "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"
            )

    def task_class(self) -> type[Task]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{k: self.props[k] for k in ("file", "topic", "batch.size") if k in self.props}]

    def exactly_once_support(self, props: Any) -> bool | None:
        return bool(props.get("file"))

    def alter_offsets(self, props: Any, offsets: Any) -> bool:
        return True


class FileStreamSourceTask(SourceTask):
    def start(self, props: dict[str, str]) -> None:
        self.filename = props.get("file") or None
        self.topic = props["topic"]
        self.batch_size = int(props.get("batch.size", "2000"))
        self.stream: IO[bytes] | None = None
        self.position = 0
        self.buffer = b""
        self._stop = threading.Event()

    def _open(self) -> bool:
        if self.filename is None:
            self.stream = sys.stdin.buffer
            return True
        try:
            self.stream = open(self.filename, "rb")  # noqa: SIM115 - held open across polls
        except FileNotFoundError:
            return False
        stored = self.context.offset_storage_reader.offset({FILENAME_FIELD: self.filename})
        if stored is not None:
            position = stored.get(POSITION_FIELD)
            if not isinstance(position, int):
                raise ConnectException("Offset position is the incorrect type")
            self.stream.seek(position)
            self.position = position
        return True

    def poll(self) -> SourceBatch | None:
        if self.stream is None and not self._open():
            self._stop.wait(1.0)  # Kafka waits for the file to appear
            return None
        assert self.stream is not None
        lines: list[bytes] = []
        positions: list[int] = []
        partition = {FILENAME_FIELD: self.filename} if self.filename else None
        while len(lines) < self.batch_size:
            chunk = (
                self.stream.read1(1 << 16)
                if hasattr(self.stream, "read1")
                else self.stream.read(1 << 16)
            )
            if chunk:
                self.buffer += chunk
            found, consumed = _split_lines(self.buffer, self.batch_size - len(lines))
            position = self.position
            for line, end in found:
                position += end
                lines.append(line)
                positions.append(position)
            self.position = position
            self.buffer = self.buffer[consumed:]
            if not chunk:
                break
        if not lines:
            self._stop.wait(0.2)
            return None
        # One batch: every line is a STRING value of the same topic, partition and read time.
        return SourceBatch(
            self.topic,
            STRING_SCHEMA,
            [line.decode("utf-8", "replace") for line in lines],
            partition,
            [{POSITION_FIELD: p} for p in positions] if partition else [None] * len(lines),
            timestamp=int(time.time() * 1000),
        )

    def stop(self) -> None:
        self._stop.set()
        if self.stream is not None and self.stream is not sys.stdin.buffer:
            try:
                self.stream.close()
            except Exception:
                pass


def _split_lines(buffer: bytes, limit: int) -> tuple[list[tuple[bytes, int]], int]:
    """Complete lines in `buffer` (at most `limit`), each with the bytes it took; and bytes consumed."""
    n = len(buffer)
    if b"\r" not in buffer:  # the common case: one split instead of a find per line
        parts = buffer.split(b"\n", limit) if limit > 0 else [buffer]
        del parts[-1]  # the rest after the last complete line (maxsplit keeps it whole)
        lines = [(p, len(p) + 1) for p in parts]
        return lines, sum(e for _, e in lines)
    out: list[tuple[bytes, int]] = []
    start = 0
    while len(out) < limit and start < n:
        nl = buffer.find(b"\n", start)
        cr = buffer.find(b"\r", start, nl if nl >= 0 else n)
        if cr >= 0:
            if cr + 1 == n:
                break  # a CR at the end: wait to see whether LF follows
            end = cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            out.append((buffer[start:cr], end - start))
            start = end
        elif nl >= 0:
            out.append((buffer[start:nl], nl + 1 - start))
            start = nl + 1
        else:
            break
    return out, start


class FileStreamSinkConnector(SinkConnector):
    config_def = ConfigDef().define(
        "file",
        Type.STRING,
        None,
        None,
        Importance.HIGH,
        "Destination filename. If not specified, the standard output will be used",
    )

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [
            {"file": self.props["file"]} if self.props.get("file") else {} for _ in range(max_tasks)
        ]

    def alter_offsets(self, props: Any, offsets: Any) -> bool:
        return True


class FileStreamSinkTask(SinkTask):
    def start(self, props: dict[str, str]) -> None:
        self.filename = props.get("file") or None
        self.out: IO[str] = (
            open(self.filename, "a", encoding="utf-8")  # noqa: SIM115 - held open across puts
            if self.filename
            else sys.stdout
        )

    def put(self, records: list[SinkRecord]) -> None:
        self.out.write("".join(f"{_java_string(r.value)}\n" for r in records))

    def flush(self, current_offsets: dict[TopicPartition, int]) -> None:
        self.out.flush()

    def stop(self) -> None:
        if self.filename and not self.out.closed:
            self.out.close()


def _java_string(value: Any) -> str:
    """Java's `String.valueOf` for Connect values (what Kafka's sink prints)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Struct):
        inner = ",".join(
            f"{f.name}={_java_string(value.get_without_default(f.name))}"
            for f in value.schema.fields
            if value.get_without_default(f.name) is not None
        )
        return f"Struct{{{inner}}}"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_java_string(k)}={_java_string(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_java_string(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        return "[B@" + format(id(value) & 0xFFFFFFF, "x")
    return str(value)
