"""What the acceptance suite (acceptance-tests/) prepares before it runs this connector: the API sandbox on the
loopback port that config.json names (reachable from an image on the host network too)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).parent


@contextmanager
def environment() -> Iterator[None]:
    url = json.loads((HERE / "config.json").read_text())["base_url"]
    process = subprocess.Popen(
        [sys.executable, "-m", "source_rest_api.sandbox", "--port", str(urlsplit(url).port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/_stats", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API sandbox did not start at {url}") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
