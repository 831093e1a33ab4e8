import sys

from source_core.launch import launch
from source_file.source import SourceFile


def run() -> None:
    launch(SourceFile(), sys.argv[1:])
