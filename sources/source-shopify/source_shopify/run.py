import sys

from source_core.launch import launch
from source_shopify.source import SourceShopify


def run() -> None:
    launch(SourceShopify(), sys.argv[1:])
