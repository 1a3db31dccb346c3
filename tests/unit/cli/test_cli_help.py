"""Every command's --help renders (rich markup in help texts once crashed `broker start --help`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from riverlog.cli.main import SUBCOMMANDS, app, load_subcommand


def _paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in SUBCOMMANDS:
        paths.append([name])
        command = load_subcommand(name)
        for sub in sorted(getattr(command, "commands", {})):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "riverlog")
def test_help_renders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Usage" in result.output
