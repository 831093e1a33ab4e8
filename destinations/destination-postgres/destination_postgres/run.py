import sys
from typing import NoReturn

from source_core.startup import DESTINATION_BARE, quick_imports

with quick_imports(DESTINATION_BARE):  # the CDK's import, 1 s faster (see startup.py)
    from destination_core.launch import launch
    from destination_postgres.destination import DestinationPostgres
    from source_core.process_exit import run_then_exit


def run() -> NoReturn:
    run_then_exit(lambda: launch(DestinationPostgres(), sys.argv[1:]))
