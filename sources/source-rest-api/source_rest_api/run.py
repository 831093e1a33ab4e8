import sys

from source_core.launch import launch
from source_rest_api.source import SourceRestApi


def run() -> None:
    launch(SourceRestApi(), sys.argv[1:])
