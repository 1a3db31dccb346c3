"""The shared `--output` / table / progress helpers of riverlog.cli.output."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from riverlog.cli.output import OutputFormat, print_json, progress_bar, styled_table


def test_print_json_is_one_parseable_document(capsys: pytest.CaptureFixture[str]) -> None:
    data = [{"topic": "t", "partitions": [0, 1], "leader": None, "name": "é"}]
    print_json(data)
    out = capsys.readouterr().out
    assert json.loads(out) == data
    assert "é" in out  # not escaped


def test_output_format_names() -> None:
    assert [f.value for f in OutputFormat] == ["table", "json"]


def test_styled_table_renders_headers_and_rows() -> None:
    table = styled_table("Partition", "Leader", title="Partitions")
    table.add_row("0", "1")
    console = Console(width=80, record=True, force_terminal=True)
    console.print(table)
    text = console.export_text(clear=False)
    assert "Partitions" in text and "Partition" in text and "Leader" in text
    assert "\x1b[" in console.export_text(styles=True)  # coloured on a terminal


def test_progress_bar_disabled_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("work", 10, enabled=False) as done:
        done(5)
        done(10)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_counts_to_its_total(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("moving", 3, enabled=True, unit="partitions") as done:
        done(1)
        done(3)
    err = capsys.readouterr().err
    assert "moving" in err and "3/3" in err and "100%" in err
