import sys

from destination_core.launch import launch
from destination_postgres.destination import DestinationPostgres


def run() -> None:
    launch(DestinationPostgres(), sys.argv[1:])
