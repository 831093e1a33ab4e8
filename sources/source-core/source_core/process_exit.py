"""How a connector's command-line process ends: Python's own shutdown steps, then no native teardown.

After a command has done its work and printed its last message, the C++ static destructors of pyarrow (thread
pools, the AWS SDK behind its S3 filesystem) and DuckDB still run at exit, and under load their race with winding
down worker threads can abort the process (SIGABRT, "terminate called without an active exception"; see
apache/arrow#39862), which Airbyte takes as a failed sync or check. So a console script ends with `os._exit` once
the interpreter's own shutdown steps are done: threads joined, `atexit` handlers run (temporary folders removed,
logging flushed, S3 finalized), garbage collected, standard output and error flushed, the exit status as Python
would give it (Ctrl-C: 130).
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

FLUSH_FAILED = 120  # what CPython exits with when it cannot flush standard output at exit
INTERRUPTED = 128 + signal.SIGINT  # a shell's status for a command stopped by Ctrl-C


def run_then_exit(command: Callable[[], object]) -> NoReturn:
    """Run `command` (a console script's body) and end the process with its exit status."""
    status = 1
    try:
        status = _run(command)
        threading._shutdown()  # the interpreter's shutdown steps, in its order: executors woken, threads joined,
        atexit._run_exitfuncs()  # the atexit handlers,
        gc.collect()  # objects in reference cycles finalized (a NamedTemporaryFile removes its file in __del__)
        for stream in (sys.stdout, sys.stderr):
            try:
                if not stream.closed:
                    stream.flush()
            except (OSError, ValueError):  # a closed pipe: the reader is gone
                status = status or FLUSH_FAILED
    finally:  # also when Ctrl-C comes during the shutdown steps
        os._exit(status & 0xFF)


def _run(command: Callable[[], object]) -> int:
    """`command`'s exit status as the interpreter would give it; an exception is reported by `sys.excepthook`."""
    try:
        command()
    except SystemExit as exc:
        return _status_of(exc.code)
    except BaseException as exc:  # noqa: BLE001 - as the interpreter does: its hook reports it (the CDK emits a TRACE)
        try:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        except BaseException:  # noqa: BLE001 - a failing hook: the interpreter's own report, as CPython falls back
            sys.__excepthook__(type(exc), exc, exc.__traceback__)
        return INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def _status_of(code: object) -> int:
    """`sys.exit(code)`'s exit status: None is 0, an int is itself, anything else is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
