import sys
from typing import NoReturn

from source_core.startup import quick_imports

with quick_imports():  # the CDK's import, 0.4 s faster (see startup.py)
    from source_core.launch import launch
    from source_core.process_exit import run_then_exit
    from source_file.source import SourceFile


def run() -> NoReturn:
    run_then_exit(lambda: launch(SourceFile(), sys.argv[1:]))
