"""Crafted request bodies are refused with InvalidRequestError; none can abort the process.

kio 0.6.5's native reader allocates room for an array's items before reading one; for a count it
cannot allocate for (a COMPACT_ARRAY count up to 2**35 - 1 fits in 5 bytes) Rust aborts the whole
process (SIGABRT). `riverlog.protocol.prescan` refuses such counts first. A regression here would
kill pytest itself, so every corrupt frame is decoded in a worker process (this file run as a
script), which reports each outcome on a pipe; the test fails, naming the frame, if it dies. The
worker limits its address space to 1 GiB, so an INT32 array count (16 GiB asked for) aborts too,
as on a broker host with less memory than that, instead of passing only because this machine has
enough to give.

Also here, in this process (valid bytes only): the prescan walks every schema as kio reads it, and
every array item of every kio schema takes at least one byte, which is what makes refusing a count
above the bytes left change no outcome.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
    get_schema_field_type,
)
from kio.serial.errors import BufferUnderflow

from riverlog.protocol import codec
from riverlog.protocol.codec import decode_request, decode_request_header, encode_request
from riverlog.protocol.errors import InvalidRequestError
from riverlog.protocol.prescan import min_size, prescan

WORKER_ADDRESS_SPACE = 1 << 30
COMPACT_HUGE = b"\xff\xff\xff\xff\x7f"  # UNSIGNED_VARINT 2**35 - 1: a COMPACT_ARRAY of 2**35 - 2
LEGACY_HUGE = struct.pack(">i", 2**31 - 1)
FETCH_V12_FIXED = struct.pack(">iiiibii", -1, 500, 1, 52_428_800, 0, 0, -1)


def frame(api_key: int, version: int, body: bytes, *, flexible: bool) -> bytes:
    """A request frame (no size prefix): header v1, or v2 with an empty tag section."""
    header = struct.pack(">hhih", api_key, version, 7, 4) + b"test"
    return header + (b"\x00" if flexible else b"") + body


def compact_string(text: str) -> bytes:
    return bytes([len(text) + 1]) + text.encode()


# Each aborted the process through decode_request (or kio's reader) before the prescan existed.
ABORTING: dict[str, tuple[bytes, bool]] = {
    "metadata v12, topics count 2**35-2": (frame(3, 12, COMPACT_HUGE, flexible=True), True),
    "metadata v4, topics count 2**31-1": (frame(3, 4, LEGACY_HUGE, flexible=False), True),
    "fetch v12, topics count 2**35-2": (
        frame(1, 12, FETCH_V12_FIXED + COMPACT_HUGE, flexible=True),
        True,
    ),
    "fetch v12, one topic, partitions count 2**35-2": (
        frame(1, 12, FETCH_V12_FIXED + b"\x02" + compact_string("t") + COMPACT_HUGE, flexible=True),
        True,
    ),
    "create topics v5, assignments count 2**35-2": (
        frame(
            19,
            5,
            b"\x02" + compact_string("t") + struct.pack(">ih", 1, 1) + COMPACT_HUGE,
            flexible=True,
        ),
        True,
    ),
    # Produce goes through kio only with specialised=False (the corrupt-Produce oracle) or v13.
    "produce v9 via kio, topics count 2**35-2": (
        frame(0, 9, b"\x00" + struct.pack(">hi", -1, 30_000) + COMPACT_HUGE, flexible=True),
        False,
    ),
    "produce v3 via kio, topics count 2**31-1": (
        frame(0, 3, struct.pack(">hhi", -1, -1, 30_000) + LEGACY_HUGE, flexible=False),
        False,
    ),
    # A known tagged field (offline_log_dirs, tag 0, an array of uuids) read by kio's native reader.
    "broker heartbeat v1, tagged array count 2**35-2": (
        frame(
            63,
            1,
            struct.pack(">iqq??", 1, 1, 0, False, False) + b"\x01\x00\x05" + COMPACT_HUGE,
            flexible=True,
        ),
        True,
    ),
    # An unknown tag in the first topic sends the read to the lenient reader, which read the
    # second topic's partition_indexes (an array of int32) with kio's native array reader.
    "offset fetch v6, unknown tag then partition_indexes count 2**35-2": (
        frame(
            9,
            6,
            compact_string("g")
            + b"\x03"
            + compact_string("a")
            + b"\x01"  # no partition indexes
            + b"\x01\x05\x00"  # one tagged field: tag 5 (unknown), size 0
            + compact_string("b")
            + COMPACT_HUGE
            + b"\x00\x00\x00",
            flexible=True,
        ),
        True,
    ),
}


# --- the worker ---------------------------------------------------------------------------------

_REQUEST = struct.Struct(">ci")  # command, frame length


class WorkerDied(Exception):
    """The decoding worker process exited (an abort, if the bug is back)."""


class DecodeWorker:
    """This file run as a script: decodes frames sent on its stdin, one outcome line per frame."""

    def __init__(self) -> None:
        # A file, not a pipe: aborting children write backtraces nobody reads until the end.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )

    def decode(self, frame_bytes: bytes, *, specialised: bool = True) -> str:
        """'decoded <body class>', 'invalid <reason>' or 'other <exception>' from decode_request."""
        return self._ask(b"S" if specialised else b"K", frame_bytes)

    def native(self, frame_bytes: bytes) -> str:
        """How a forked child reading the body with kio's native reader alone ends: 'exit N' or
        'signal N'."""
        return self._ask(b"N", frame_bytes)

    def _ask(self, command: bytes, frame_bytes: bytes) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(_REQUEST.pack(command, len(frame_bytes)) + frame_bytes)
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.process.stdout.readline()
        if not line:
            raise WorkerDied(self._death())
        return line.decode().rstrip("\n")

    def _death(self) -> str:
        code = self.process.wait(timeout=10)
        self.stderr.seek(0)
        stderr = self.stderr.read(400).decode(errors="replace")
        return f"worker exited with {code}; stderr starts: {stderr}"

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)
        self.stderr.close()


@pytest.fixture(scope="module")
def worker() -> Iterator[list[DecodeWorker]]:
    # A list, so a test can replace a worker that died and the next test gets a live one.
    workers = [DecodeWorker()]
    yield workers
    workers[0].close()


def ask(workers: list[DecodeWorker], frame_bytes: bytes, *, specialised: bool = True) -> str:
    try:
        return workers[0].decode(frame_bytes, specialised=specialised)
    except WorkerDied as exc:
        workers[0] = DecodeWorker()
        raise WorkerDied(f"{exc}\nframe: {frame_bytes.hex()}") from None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker's loop (run with this file as a script)."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    while request := stdin.read(_REQUEST.size):
        command, length = _REQUEST.unpack(request)
        frame_bytes = stdin.read(length)
        if command == b"N":
            outcome = _native_in_child(frame_bytes)
        else:
            outcome = _outcome(frame_bytes, specialised=command == b"S")
        stdout.write(outcome.encode("unicode_escape") + b"\n")
        stdout.flush()


def _outcome(frame_bytes: bytes, *, specialised: bool) -> str:
    try:
        decoded = decode_request(frame_bytes, specialised=specialised)
    except InvalidRequestError as exc:
        return f"invalid {exc}"
    except BaseException as exc:
        return f"other {exc!r}"
    return f"decoded {type(decoded.body).__qualname__}"


def _native_in_child(frame_bytes: bytes) -> str:
    pid = os.fork()
    if pid == 0:  # the child: kio's native reader alone, as codec.read_entity used to call it
        header, offset = decode_request_header(frame_bytes)
        schema = load_request_schema(header.api_key, header.api_version)
        try:
            entity_reader(schema)(frame_bytes, offset)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


# --- the crafted bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ABORTING))
def test_crafted_body_is_refused(worker: list[DecodeWorker], name: str) -> None:
    frame_bytes, specialised = ABORTING[name]
    outcome = ask(worker, frame_bytes, specialised=specialised)
    assert outcome.startswith("invalid "), outcome
    assert "exceeds" in outcome, outcome  # refused by the count check, not later


@pytest.mark.parametrize("name", sorted(ABORTING))
def test_kio_native_reader_alone_aborts_on_it(worker: list[DecodeWorker], name: str) -> None:
    # What makes the test above a regression test: with kio 0.6.5 (pinned) these abort.
    frame_bytes, _ = ABORTING[name]
    if name.startswith("offset fetch"):
        # kio meets the unknown tag first (KeyError); the abort was in the lenient reader's
        # primitive array, through kio's native array reader.
        assert worker[0].native(frame_bytes) == "exit 1"
        return
    assert worker[0].native(frame_bytes) == f"signal {signal.SIGABRT.value}"


# --- mutated valid requests ---------------------------------------------------------------------

APIS = [
    (0, 3),
    (0, 9),
    (1, 4),
    (1, 12),
    (1, 15),
    (2, 1),
    (2, 7),
    (3, 4),
    (3, 12),
    (8, 7),
    (9, 6),
    (9, 8),
    (11, 5),
    (11, 7),
    (15, 5),
    (19, 4),
    (19, 5),
    (21, 2),
    (32, 4),
    (63, 1),
]
HUGE = [
    LEGACY_HUGE,
    COMPACT_HUGE,
    b"\x80\x00\x00\x00",  # INT32 minimum
    b"\xff\xff\xff\xff\x0f",  # UNSIGNED_VARINT 2**32 - 1
    b"\x00\x10\x00\x00",  # 1 Mi items
    b"\xff\xfe",  # INT16 -2
    b"\x01\x2a\x00",  # a tagged-field section with one unknown tag
    b"\x01\x00\x05" + COMPACT_HUGE,  # tag 0 (known in some schemas) holding a huge count
]
mutations = st.lists(
    st.tuples(
        st.sampled_from(["set", "overwrite", "insert", "cut"]),
        st.integers(min_value=0, max_value=10_000),
        st.integers(0, 255),
        st.sampled_from(HUGE),
    ),
    min_size=1,
    max_size=4,
)


def mutate(body: bytearray, changes: list[tuple[str, int, int, bytes]]) -> bytearray:
    for kind, where, value, huge in changes:
        pos = where % (len(body) + 1)
        if kind == "set" and pos < len(body):
            body[pos] = value
        elif kind == "overwrite":
            body[pos : pos + len(huge)] = huge
        elif kind == "insert":
            body[pos:pos] = huge
        elif kind == "cut":
            del body[pos:]
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.data(),
    api=st.sampled_from(APIS),
    changes=mutations,
    specialised=st.booleans(),
)
def test_mutated_requests_decode_or_are_refused(
    worker: list[DecodeWorker],
    data: st.DataObject,
    api: tuple[int, int],
    changes: list[tuple[str, int, int, bytes]],
    specialised: bool,
) -> None:
    request = data.draw(st.from_type(load_request_schema(*api)))
    try:
        whole = encode_request(3, "fuzz", request)[4:]
    except ValueError:  # hypothesis can draw values kio cannot write (e.g. huge timedeltas)
        return
    _, body_offset = decode_request_header(whole)
    body = mutate(bytearray(whole[body_offset:]), changes)
    frame_bytes = whole[:body_offset] + bytes(body)
    outcome = ask(worker, frame_bytes, specialised=specialised)
    assert outcome.startswith(("decoded ", "invalid ")), (outcome, frame_bytes.hex())


# --- the prescan against kio, in this process (valid bytes only) ----------------------------------


@functools.cache
def all_schemas() -> tuple[type[Any], ...]:
    """Every request and response class kio has (loaded on first use: not in the worker)."""
    return tuple(
        load(key, version)
        for key, name in api_key_map.items()
        for version in schema_name_map[name]
        for load in (load_request_schema, load_response_schema)
    )


request_schemas = st.deferred(
    lambda: st.sampled_from([s for s in all_schemas() if s.__name__.endswith("Request")])
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), schema=request_schemas)
def test_prescan_walks_every_schema_as_kio_reads_it(data: st.DataObject, schema: type[Any]) -> None:
    buffer = io.BytesIO()
    try:
        entity_writer(schema)(buffer, data.draw(st.from_type(schema)))
    except ValueError:  # hypothesis can draw values kio cannot write (e.g. huge timedeltas)
        return
    body = b"junk" + buffer.getvalue() + b"more"
    _, size = entity_reader(schema)(body, 4)
    assert prescan(schema, body, 4) == size


def test_the_walk_builds_for_every_schema() -> None:
    # A kafka_type the walk does not know would refuse every request of that schema.
    for schema in all_schemas():
        try:
            assert prescan(schema, b"", 0) == 0, schema  # only for the bodies with no fields
        except BufferUnderflow:
            pass


def test_every_array_item_takes_at_least_one_byte() -> None:
    # So an array claiming more items than the bytes left fails in kio too: refusing it first
    # changes no outcome.
    items: dict[type[Any], None] = {}
    seen: set[type[Any]] = set()
    pending = list(all_schemas())
    while pending:
        entity = pending.pop()
        if entity in seen:
            continue
        seen.add(entity)
        for field in dataclasses.fields(entity):
            match classify_field(field):
                case EntityField(nested):
                    pending.append(nested)
                case EntityTupleField(nested):
                    pending.append(nested)
                    items[nested] = None
                case PrimitiveTupleField():
                    assert get_schema_field_type(field) != "records", field
    assert len(items) > 200
    assert min(min_size(item) for item in items) >= 1
    # Two whole requests do take no bytes (ApiVersions v0-2, ListGroups v0-2): none is an item.
    assert {s.__name__ for s in all_schemas() if min_size(s) == 0} == {
        "ApiVersionsRequest",
        "ListGroupsRequest",
    }


def test_unknown_tag_sends_the_read_to_the_lenient_reader() -> None:
    # Metadata v12: no topics, two booleans, then one tagged field the schema does not know.
    body = b"\x01\x00\x01" + b"\x01\x2a\x02hi"
    assert prescan(load_request_schema(3, 12), body, 0) is None
    decoded = decode_request(frame(3, 12, body, flexible=True))
    assert decoded.body.topics == ()
    assert decoded.body.include_topic_authorized_operations is True


def test_a_count_within_the_bytes_left_is_left_to_kio() -> None:
    # Five topics claimed, two bytes left: refused before kio allocates; kio's own checks otherwise.
    schema = load_request_schema(3, 4)
    with pytest.raises(InvalidRequestError, match="5 items exceeds the 2 bytes left"):
        codec.read_entity(schema, struct.pack(">i", 5) + b"\x00\x00", 0)
    with pytest.raises(InvalidRequestError, match="InvalidUnicode"):
        codec.read_entity(schema, struct.pack(">ih", 1, 2) + b"\xff\xfe\x01", 0)


def fetch_v12_body(partition_tags: list[bytes]) -> bytes:
    """Fetch v12, one topic, one partition per tag section given (b"\\x00": none)."""
    partitions = b"".join(
        struct.pack(">iiqiqi", index, 0, 100, -1, -1, 1 << 20) + tags
        for index, tags in enumerate(partition_tags)
    )
    topic = compact_string("t") + bytes([len(partition_tags) + 1]) + partitions + b"\x00"
    return FETCH_V12_FIXED + b"\x02" + topic + b"\x01" + compact_string("") + b"\x00"


def test_fetch_partitions_are_skipped_whole_or_one_by_one() -> None:
    schema = load_request_schema(1, 12)
    plain = fetch_v12_body([b"\x00"] * 3)
    assert prescan(schema, plain, 0) == entity_reader(schema)(plain, 0)[1] == len(plain)
    # A tag in the middle partition: the one-slice check fails, the walk goes item by item.
    tagged = fetch_v12_body([b"\x00", b"\x01\x2a\x01z", b"\x00"])
    assert prescan(schema, tagged, 0) is None  # tag 42 is unknown: the lenient reader's
    decoded = decode_request(frame(1, 12, tagged, flexible=True)).body
    assert [p.partition for p in decoded.topics[0].partitions] == [0, 1, 2]
    # Cut inside the last partition: refused, whichever way the walk goes.
    for body in (plain, tagged):
        with pytest.raises(InvalidRequestError):
            decode_request(frame(1, 12, body[:-8], flexible=True))


class FakePanic(BaseException):
    """Stands for pyo3's PanicException: a Rust panic surfaces as a BaseException subclass."""


def test_a_panic_in_kio_is_an_invalid_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def panicking(schema: type[Any]) -> Any:
        def read(buf: Any, offset: int) -> Any:
            raise FakePanic("index out of bounds")

        return read

    monkeypatch.setattr(codec, "entity_reader", panicking)
    with pytest.raises(InvalidRequestError, match="FakePanic"):
        decode_request(frame(3, 4, struct.pack(">i", 0) + b"\x01", flexible=False))


def test_keyboard_interrupt_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(schema: type[Any]) -> Any:
        def read(buf: Any, offset: int) -> Any:
            raise KeyboardInterrupt

        return read

    monkeypatch.setattr(codec, "entity_reader", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decode_request(frame(3, 4, struct.pack(">i", 0) + b"\x01", flexible=False))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
