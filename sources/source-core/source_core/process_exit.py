"""How a connector's command-line process ends: Python's own shutdown steps, then no native teardown.

After a command has done its work and printed its last message, the C++ static destructors of pyarrow (thread
pools, the AWS SDK behind its S3 filesystem) and DuckDB still run at exit, and under load their race with winding
down worker threads can abort the process (SIGABRT, "terminate called without an active exception"; see
apache/arrow#39862), which Airbyte takes as a failed sync or check. So a console script ends with `os._exit` once
the interpreter's own shutdown steps are done: threads joined, `atexit` handlers run (temporary folders removed,
logging flushed, S3 finalized), standard output and error flushed, the exit status as Python would give it.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

FLUSH_FAILED = 120  # what CPython exits with when it cannot flush standard output at exit


def run_then_exit(command: Callable[[], object]) -> NoReturn:
    """Run `command` (a console script's body) and end the process with its exit status."""
    try:
        command()
        status = 0
    except SystemExit as exc:
        status = _status_of(exc.code)
    except BaseException:  # noqa: BLE001 - as the interpreter does: its hook reports it (the CDK emits a TRACE)
        sys.excepthook(*sys.exc_info())
        status = 1
    threading._shutdown()  # the interpreter's shutdown steps, in its order: executors woken, threads joined,
    atexit._run_exitfuncs()  # then the atexit handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the reader is gone
            status = status or FLUSH_FAILED
    os._exit(status)


def _status_of(code: object) -> int:
    """`sys.exit(code)`'s exit status: None is 0, an int is itself, anything else is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
