"""The start-up import window: ast.parse memoized, classes found through an index and the garbage collector paused
inside, all as before after; packages registered bare, their `__init__` not run."""

from __future__ import annotations

import ast
import enum
import gc
import importlib
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import airbyte_protocol

from source_core.startup import quick_imports
from tests import classes_to_find


def test_inside_parses_once_and_collects_nothing() -> None:
    with quick_imports():
        first, again = ast.parse("class A:\n    x: int = 1\n"), ast.parse("class A:\n    x: int = 1\n")
        assert first is again
        assert ast.parse(bytearray(b"y = 2")).body  # unhashable source: parsed as usual
        assert not gc.isenabled()
        made = [object()]  # a container the collector tracks
        assert any(found is made for found in gc.get_objects(generation=0))
    assert ast.parse("x = 1") is not ast.parse("x = 1")
    assert gc.isenabled()
    assert not any(found is made for found in gc.get_objects())  # frozen: no collection goes through it


def test_finds_every_class_where_inspect_does() -> None:
    modules = (classes_to_find, enum, inspect, airbyte_protocol)
    found = [c for m in modules for c in vars(m).values() if inspect.isclass(c) and c.__module__ == m.__name__]
    classes = [*found, classes_to_find.Outer.Inner, classes_to_find.Outer.Inner.Deepest, classes_to_find.Local, int]
    findsource, getsourcelines = inspect.findsource, inspect.getsourcelines
    expected = [(_outcome(findsource, c), _outcome(getsourcelines, c)) for c in classes]
    with quick_imports():
        assert inspect.findsource is not findsource and inspect.getsourcelines is not getsourcelines
        assert [(_outcome(inspect.findsource, c), _outcome(inspect.getsourcelines, c)) for c in classes] == expected
    assert (inspect.findsource, inspect.getsourcelines) == (findsource, getsourcelines)
    assert len(classes) > 50
    assert (OSError, OSError) in expected and (TypeError, TypeError) in expected  # Made is in no source; int built in


# Shapes the formatter would not leave in a module of the tests: comments after a class, a class on one line
COMMENTED = """
class OneLine: pass
    # indented as a body would be, but OneLine has none: not OneLine's

class Commented:
    x = 1
    # indented as the body: Commented's

    # so is this one, after a blank line
  # indented less: Commented's only since the next one is
    # indented as the body: Commented's
def after():
    class Last:
        y = 2
            # deeper: Last's
    return Last
"""


def test_takes_the_comments_after_a_class_as_inspect_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "commented_classes.py").write_text(COMMENTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("commented_classes")
    classes = [module.OneLine, module.Commented, module.after()]
    expected = [inspect.getsourcelines(c) for c in classes]
    with quick_imports():
        assert [inspect.getsourcelines(c) for c in classes] == expected
    assert ["".join(lines).count("'s") for lines, _ in expected] == [0, 3, 1]


def _outcome(find: Callable[[Any], tuple[list[str], int]], cls: type) -> object:
    """The lines and line `find` (findsource, getsourcelines) finds `cls` at, or the type of error it raises."""
    try:
        return find(cls)
    except (OSError, TypeError) as exc:
        return type(exc)


def test_restored_after_an_error() -> None:
    findsource = inspect.findsource
    parse = ast.parse
    with pytest.raises(ImportError), quick_imports():
        import source_core.no_such_module  # noqa: F401
    assert ast.parse is parse
    assert inspect.findsource is findsource
    assert gc.isenabled()


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    try:
        with quick_imports():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _in_a_fresh_process(code: str) -> str:
    """`code`'s output, run in a new interpreter: bare packages stay bare for the rest of a process."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_bare_packages_import_their_modules_without_their_init() -> None:
    out = _in_a_fresh_process(
        """
        import sys
        from source_core.startup import DESTINATION_BARE, quick_imports
        with quick_imports(DESTINATION_BARE):
            from airbyte_cdk.destinations import Destination
            from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
        import airbyte_cdk, airbyte_cdk.sources
        print(Destination.__module__, airbyte_cdk.sources is sys.modules["airbyte_cdk.sources"])
        print(hasattr(airbyte_cdk, "AbstractSource"), hasattr(airbyte_cdk.sources, "AbstractSource"))
        print("airbyte_cdk.legacy" in sys.modules, "airbyte_cdk.sources.abstract_source" in sys.modules)
        """
    )
    assert out.splitlines() == ["airbyte_cdk.destinations.destination True", "False False", "False False"]


def test_a_package_imported_already_stays_whole() -> None:
    out = _in_a_fresh_process(
        """
        import airbyte_cdk
        from source_core.startup import quick_imports
        with quick_imports(("airbyte_cdk",)):
            import airbyte_cdk as again
        print(again is airbyte_cdk, hasattr(again, "AbstractSource"))
        """
    )
    assert out == "True True"


def test_a_bare_package_must_be_installed() -> None:
    with (
        pytest.raises(ImportError, match="no_such_package is no installed package"),
        quick_imports(("no_such_package",)),
    ):
        pass
