"""Faster imports for a connector's process start: every command (spec, check, discover, read, write) pays them.

Two things make importing airbyte-cdk slow, and both are undone here for the length of the imports only:
- CPython 3.11's `inspect.getsource` parses a class's whole module for every class it is asked about, and
  serpyco-rs (the CDK's message serializer) asks it for each protocol class and its bases when the CDK builds
  its serializers. With `ast.parse` memoized the module is parsed once.
- The cyclic garbage collector runs again and again while tens of thousands of long-lived objects are created.
  It is paused (imports make no garbage worth collecting) and then left as it was.
Measured on the 2-core machine: `import source_postgres.run` 1.33-1.45 s as it was, 0.92-0.96 s with both.
"""

from __future__ import annotations

import ast
import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def quick_imports() -> Iterator[None]:
    """Run the enclosed imports with `ast.parse` memoized and the garbage collector paused; both restored after.

    A memoized parse hands the same tree to every caller of the same source: the callers during an import
    (`inspect`, `attributes_doc`) only read it.
    """
    parse = ast.parse
    cached = functools.lru_cache(maxsize=None)(parse)

    def memoized(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument (source as a bytearray): parsed as usual
            return parse(*args, **kwargs)

    collecting = gc.isenabled()
    ast.parse = memoized
    gc.disable()
    try:
        yield
    finally:
        ast.parse = parse
        if collecting:
            gc.enable()
