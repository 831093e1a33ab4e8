import sys

from source_core.launch import launch
from source_postgres.source import SourcePostgres


def run() -> None:
    launch(SourcePostgres(), sys.argv[1:])
