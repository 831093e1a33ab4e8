"""The start-up import window: ast.parse memoized and the garbage collector paused inside, both as before after."""

from __future__ import annotations

import ast
import gc

import pytest

from source_core.startup import quick_imports


def test_inside_parses_once_and_collects_nothing() -> None:
    with quick_imports():
        first, again = ast.parse("class A:\n    x: int = 1\n"), ast.parse("class A:\n    x: int = 1\n")
        assert first is again
        assert ast.parse(bytearray(b"y = 2")).body  # unhashable source: parsed as usual
        assert not gc.isenabled()
    assert ast.parse("x = 1") is not ast.parse("x = 1")
    assert gc.isenabled()


def test_restored_after_an_error() -> None:
    parse = ast.parse
    with pytest.raises(ImportError), quick_imports():
        import source_core.no_such_module  # noqa: F401
    assert ast.parse is parse
    assert gc.isenabled()


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    try:
        with quick_imports():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
