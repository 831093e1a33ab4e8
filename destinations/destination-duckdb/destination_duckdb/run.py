import sys

from destination_core.launch import launch
from destination_duckdb.destination import DestinationDuckdb


def run() -> None:
    launch(DestinationDuckdb(), sys.argv[1:])
