"""Faster imports for a connector's process start: every command (spec, check, discover, read, write) pays them.

Three things make importing airbyte-cdk slow. Two are undone here for the length of the imports only:
- CPython 3.11's `inspect.getsource` parses a class's whole module for every class it is asked about, walks
  the tree to find the class, then tokenizes the class to find where it ends; and serpyco-rs (the CDK's message
  serializer) asks it for each protocol class and its bases when the CDK builds its serializers: 112 times, over
  5 modules. With `ast.parse` memoized each module is parsed once, and with the classes' first and last lines
  indexed its tree is walked once and nothing is tokenized.
- The cyclic garbage collector runs again and again while tens of thousands of long-lived objects are created.
  It is paused (imports make no garbage worth collecting), then left as it was, with those objects frozen out of
  its reach: the first full collection of a write went through them all (24 ms), 0.3 ms with them frozen.
Measured on the 2-core machine: `import source_postgres.run` 1.33-1.45 s as it was, 0.92-0.96 s with both.

The third: the `__init__` of the package `airbyte_cdk` imports every framework of the CDK (declarative sources, HTTP,
file-based, concurrent), and that of `airbyte_cdk.sources` the abstract source's. A destination uses none of them.
It can import the modules it does use with those packages registered bare, their `__init__` not run
(`DESTINATION_BARE`): `import destination_duckdb.run` 1.17-1.23 s with the `__init__`s, 0.57-0.61 s without.
Bare packages stay so for the process, since the modules imported through them refer to them; so they are for a
connector's own process (its `run` module), where nothing else imports. Besides imports, those two `__init__`s
only set one option, dpath's ALLOW_EMPTY_STRING_KEYS, which destination_core.launch sets itself.
"""

from __future__ import annotations

import ast
import functools
import gc
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# airbyte-cdk's packages whose `__init__` imports only what a destination does not use (see the docstring above)
DESTINATION_BARE = ("airbyte_cdk", "airbyte_cdk.sources")


@contextmanager
def quick_imports(bare: tuple[str, ...] = ()) -> Iterator[None]:
    """Run the enclosed imports with `ast.parse` memoized and the garbage collector paused; both restored after,
    and, if the imports succeeded, every object that exists by then frozen (`gc.freeze`).

    A memoized parse hands the same tree to every caller of the same source: the callers during an import
    (`inspect`, `attributes_doc`) only read it. The packages named in `bare`, parents first, are registered
    without running their `__init__` (unless imported already), and stay so.
    """
    for name in bare:
        _register_bare(name)
    parse = ast.parse
    cached = functools.lru_cache(maxsize=None)(parse)

    def memoized(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument (source as a bytearray): parsed as usual
            return parse(*args, **kwargs)

    findsource, getsourcelines = inspect.findsource, inspect.getsourcelines
    collecting = gc.isenabled()
    ast.parse = memoized
    inspect.findsource, inspect.getsourcelines = _indexed(findsource, getsourcelines)
    gc.disable()
    try:
        yield
        gc.freeze()  # what the imports made lives as long as the process: no later collection goes through it again
    finally:
        ast.parse = parse
        inspect.findsource, inspect.getsourcelines = findsource, getsourcelines
        if collecting:
            gc.enable()


def _register_bare(name: str) -> None:
    """Register package `name` as a module with its `__path__` (its submodules import as usual) but without the
    names its `__init__` would define, since that is not run."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is no installed package", name=name)
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)


_Finder = Callable[[Any], tuple[list[str], int]]


def _indexed(findsource: _Finder, getsourcelines: _Finder) -> tuple[_Finder, _Finder]:
    """`inspect.findsource` and `inspect.getsourcelines` that find a class through an index of its module's classes,
    made once per module."""
    indexes: dict[str, dict[str, tuple[int, int]]] = {}

    def located(obj: Any) -> tuple[list[str], int, int] | None:
        """The lines of `obj`'s module and its first and end line; None if it is no class of a loaded module."""
        module = sys.modules.get(getattr(obj, "__module__", None) or "") if inspect.isclass(obj) else None
        if module is None:
            return None
        lines, _ = findsource(module)
        source = "".join(lines)
        if source not in indexes:
            finder = _ClassLines(lines)
            finder.visit(ast.parse(source))
            indexes[source] = finder.lines
        try:
            return lines, *indexes[source][obj.__qualname__]
        except KeyError:
            raise OSError("could not find class definition") from None

    def indexed_findsource(obj: Any) -> tuple[list[str], int]:
        found = located(obj)
        return findsource(obj) if found is None else found[:2]

    def indexed_getsourcelines(obj: Any) -> tuple[list[str], int]:
        found = located(obj)
        if found is None:
            return getsourcelines(obj)
        lines, first, end = found
        return lines[first:end], first + 1

    return indexed_findsource, indexed_getsourcelines


class _ClassLines(ast.NodeVisitor):
    """Each class's lines in a module by qualified name, as `inspect` takes them: from its first line (0-based, its
    first decorator's if any) to its end, which takes in the comment lines after its last statement that are
    indented as far as its body (`inspect.BlockFinder`). Of two classes with one name, the first that `inspect`'s
    own search (`inspect._ClassFinder`) meets."""

    def __init__(self, source: list[str]) -> None:
        self.source = source
        self.stack: list[str] = []
        self.lines: dict[str, tuple[int, int]] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        first = node.decorator_list[0] if node.decorator_list else node
        self.lines.setdefault(".".join(self.stack), (first.lineno - 1, self._end(node)))
        self.generic_visit(node)
        self.stack.pop()

    def _end(self, node: ast.ClassDef) -> int:
        end = node.end_lineno or node.lineno
        if node.body[0].lineno == node.lineno:  # `class A: pass`: no indented body, so no comments taken in
            return end
        body = node.body[0].col_offset
        for number in range(end, len(self.source)):
            text = self.source[number].lstrip()
            if text.startswith("#") and len(self.source[number]) - len(text) >= body:
                end = number + 1
            elif text and not text.startswith("#"):
                break
        return end
