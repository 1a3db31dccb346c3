"""The client commands' pure parts: argument parsing, record formats, start positions."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riverlog.cli.client import ClientSettings, bootstrap_addresses, parse_assignments
from riverlog.cli.consume import StartKind, StartPosition, parse_timestamp, start_position
from riverlog.cli.errors import CliError
from riverlog.cli.output import ConsumedRecord, Headers, RecordFormat, format_record, record_json
from riverlog.cli.produce import LineParser, parse_headers, read_lines


def record(
    key: bytes | None = b"k", value: bytes | None = b"v", headers: Headers = ()
) -> ConsumedRecord:
    return ConsumedRecord("t", 2, 7, 1_700_000_000_000, key, value, tuple(headers))


# -- client settings -----------------------------------------------------------------------------


def test_parse_assignments_keeps_everything_after_the_first_equals() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="], "--config") == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(CliError, match="bad --config 'nope'"):
        parse_assignments(["nope"], "--config")


def test_bootstrap_addresses() -> None:
    assert bootstrap_addresses("a:1, SASL_SSL://b:2,[::1]:3") == [("a", 1), ("b", 2), ("::1", 3)]
    for bad in ("host", "host:", ":9092", "host:port"):
        with pytest.raises(CliError, match="bad bootstrap server"):
            bootstrap_addresses(bad)


def test_command_config_overrides_defaults_and_bootstrap() -> None:
    settings = ClientSettings.from_options(
        "localhost:9092", ["bootstrap.servers=h:1", "socket.timeout.ms=1500", "acks=0"]
    )
    assert settings.bootstrap == "h:1"
    assert settings.socket_timeout_s == 1.5
    config = settings.config(acks="all", **{"client.id": "x"})
    assert (config["bootstrap.servers"], config["acks"], config["client.id"]) == ("h:1", "0", "x")


# -- produce input -------------------------------------------------------------------------------


def test_lines_lose_their_newline_and_carriage_return() -> None:
    assert list(read_lines(io.BytesIO(b"a\r\n\nb\nlast"))) == [b"a", b"", b"b", b"last"]


def test_line_parser_splits_at_the_first_separator_and_maps_the_null_marker() -> None:
    parser = LineParser(b"::", b"NULL")
    assert parser.parse(b"k::v::w") == (b"k", b"v::w")
    assert parser.parse(b"NULL::NULL") == (None, None)
    with pytest.raises(ValueError, match="no key separator"):
        parser.parse(b"no sep")
    assert LineParser(None, None).parse(b"a:b") == (None, b"a:b")


def test_headers_keep_order_and_repeats() -> None:
    assert parse_headers(["a=1", "a=2", "b=NULL"], b"NULL") == [
        ("a", b"1"),
        ("a", b"2"),
        ("b", None),
    ]


# -- record formats ------------------------------------------------------------------------------


def test_json_uses_text_for_utf8_and_marks_base64() -> None:
    obj = record_json(
        record(key=None, value=b"\xff\x00", headers=[("h", "é".encode()), ("n", None)])
    )
    assert obj == {
        "topic": "t",
        "partition": 2,
        "offset": 7,
        "timestamp": 1_700_000_000_000,
        "key": None,
        "value": "/wA=",
        "value_encoding": "base64",
        "headers": [{"key": "h", "value": "é"}, {"key": "n", "value": None}],
    }


@given(st.binary(), st.binary() | st.none())
def test_json_round_trips_any_bytes(value: bytes, key: bytes | None) -> None:
    line = format_record(
        record(key, value), RecordFormat.JSON, print_key=False, print_headers=False
    )
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    obj = json.loads(line)
    for name, original in (("key", key), ("value", value)):
        decoded = obj[name]
        if obj.get(f"{name}_encoding") == "base64":
            decoded = base64.b64decode(decoded)
        elif decoded is not None:
            decoded = decoded.encode()
        assert decoded == original


def test_text_format_is_kafka_console_consumer_order() -> None:
    rec = record(headers=[("a", b"1"), ("b", None)])
    assert format_record(rec, RecordFormat.TEXT, print_key=False, print_headers=False) == b"v\n"
    both = format_record(rec, RecordFormat.TEXT, print_key=True, print_headers=True)
    assert both == b"a:1,b:null\tk\tv\n"
    no_headers = format_record(
        record(key=None), RecordFormat.TEXT, print_key=True, print_headers=True
    )
    assert no_headers == b"NO_HEADERS\tnull\tv\n"


def test_kcat_like_format() -> None:
    rec = record(headers=[("a", b"1")])
    assert (
        format_record(rec, RecordFormat.KCAT, print_key=False, print_headers=False)
        == b"t [2] @ 7: v\n"
    )
    full = format_record(rec, RecordFormat.KCAT, print_key=True, print_headers=True)
    assert full == b"t [2] @ 7: key k: headers a:1: v\n"


# -- consume start positions ---------------------------------------------------------------------


def test_parse_timestamp_accepts_ms_and_iso8601() -> None:
    assert parse_timestamp("1700000000000") == 1_700_000_000_000
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert parse_timestamp("2023-11-14T23:13:20.5+01:00") == 1_700_000_000_500
    naive = datetime(2023, 11, 14, 22, 13, 20).timestamp() * 1000  # local time, like Kafka's tools
    assert parse_timestamp("2023-11-14T22:13:20") == int(naive)
    with pytest.raises(CliError, match="bad --timestamp"):
        parse_timestamp("yesterday")


@pytest.mark.parametrize(
    ("args", "grouped", "expected"),
    [
        ((False, None, None), False, StartPosition(StartKind.END)),
        ((True, None, None), False, StartPosition(StartKind.BEGINNING)),
        ((False, 5, None), False, StartPosition(StartKind.OFFSET, 5)),
        ((False, None, "1000"), True, StartPosition(StartKind.TIMESTAMP, 1000)),
        # With a group the committed offset wins; --from-beginning only sets auto.offset.reset.
        ((True, None, None), True, StartPosition(StartKind.COMMITTED)),
        ((False, None, None), True, StartPosition(StartKind.COMMITTED)),
    ],
)
def test_start_position(
    args: tuple[bool, int | None, str | None], grouped: bool, expected: StartPosition
) -> None:
    assert start_position(*args, grouped=grouped) == expected


def test_start_position_rejects_conflicts_and_negative_offsets() -> None:
    with pytest.raises(CliError, match="only one of"):
        start_position(True, 3, None, grouped=False)
    with pytest.raises(CliError, match="at least 0"):
        start_position(False, -1, None, grouped=False)


def test_usage_errors_are_one_line_without_traceback() -> None:
    """Regression: typer printed boxed usage errors and tracebacks in non-standalone mode."""
    import subprocess
    import sys

    for args in (
        ["topics", "create", "x", "--partitions", "abc"],
        ["frob"],
        ["broker", "start", "--bogus"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "riverlog", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, args
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("riverlog: error:")
