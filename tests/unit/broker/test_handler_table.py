"""The handler table: every handler module listed with the API and versions it declares, loaded lazily."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import typing

import pytest

from riverlog.broker import handlers
from riverlog.broker.handlers import ALL_HANDLERS, HANDLERS, HandlerSpec


@pytest.mark.parametrize("spec", HANDLERS, ids=lambda spec: spec.name)
def test_each_entry_matches_its_module(spec: HandlerSpec) -> None:
    module = spec.load()
    assert module.__name__ == f"riverlog.broker.handlers.{spec.name}"
    declared = (module.API_KEY, module.MIN_VERSION, module.MAX_VERSION)
    assert declared == (spec.API_KEY, spec.MIN_VERSION, spec.MAX_VERSION)
    assert callable(module.handle)


def test_every_handler_module_is_listed_once() -> None:
    modules = {
        info.name
        for info in pkgutil.iter_modules(handlers.__path__)
        if not info.name.startswith("_")
    }
    names = [spec.name for spec in HANDLERS]
    assert sorted(names) == sorted(modules)
    keys = [spec.API_KEY for spec in HANDLERS]
    assert len(keys) == len(set(keys))
    assert list(HANDLERS) == ALL_HANDLERS


def test_importing_the_table_imports_no_handler() -> None:
    code = (
        "import sys, riverlog.broker.handlers, riverlog.broker.network.dispatch; "
        "print(sorted(m for m in sys.modules if m.startswith('riverlog.broker.handlers.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("spec", HANDLERS, ids=lambda spec: spec.name)
def test_each_handler_names_its_typed_request(spec: HandlerSpec) -> None:
    """Every handler takes a typed request: the API's generated view, or (Produce) the codec's own."""
    module = spec.load()
    request = module.REQUEST
    assert isinstance(request, type)
    if spec.name != "produce":
        assert request.__module__ == f"riverlog.protocol.messages.{spec.name}"
    hints = typing.get_type_hints(module.handle)
    assert hints["request"] is request
    assert "Any" not in str(hints["return"])
