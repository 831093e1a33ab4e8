import sys
from typing import NoReturn

from source_core.startup import quick_imports

with quick_imports():  # the CDK's import, 0.4 s faster (see startup.py)
    from source_core.launch import launch
    from source_core.process_exit import run_then_exit
    from source_postgres.source import SourcePostgres


def run() -> NoReturn:
    run_then_exit(lambda: launch(SourcePostgres(), sys.argv[1:]))
