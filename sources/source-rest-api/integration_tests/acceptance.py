"""What the acceptance suite (acceptance-tests/) prepares before it runs this connector: the API sandbox on the
loopback port that config.json names (reachable from an image on the host network too)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from source_core.testing import served

HERE = Path(__file__).parent


@contextmanager
def environment() -> Iterator[None]:
    url = json.loads((HERE / "config.json").read_text())["base_url"]
    argv = [sys.executable, "-m", "source_rest_api.sandbox", "--port", str(urlsplit(url).port)]
    with served(argv, f"{url}/_stats", "the API sandbox"):
        yield
