"""What the acceptance suite (acceptance-tests/) prepares before it runs this connector: the Shopify sandbox with a
small seed on the loopback port that config.json names (reachable from an image on the host network too)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from source_core.testing import served

HERE = Path(__file__).parent
SEED = ["--orders", "300", "--customers", "100", "--products", "40"]


@contextmanager
def environment() -> Iterator[None]:
    url = urlsplit(json.loads((HERE / "config.json").read_text())["base_url"])
    argv = [sys.executable, "-m", "source_shopify.sandbox", "--port", str(url.port), *SEED]
    with served(argv, f"{url.scheme}://{url.netloc}/_stats", "the Shopify sandbox"):
        yield
