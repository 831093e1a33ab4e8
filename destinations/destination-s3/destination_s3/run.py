import sys

from destination_core.launch import launch
from destination_s3.destination import DestinationS3


def run() -> None:
    launch(DestinationS3(), sys.argv[1:])
