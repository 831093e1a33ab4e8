"""An API connector's HTTP figures (source_core.http) reach check_health() and get_performance_metrics()."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from source_core.testing import free_port, served
from sqlflow_bridge.connector import AirbyteConnector
from tests.conftest import table_of

RECORDS = 600


@pytest.fixture
def sandbox() -> Iterator[str]:
    """source-rest-api's API sandbox, a real HTTP server process on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "source_rest_api.sandbox", "--port", str(port), "--records", str(RECORDS)]
    with served(argv, f"{url}/_stats", "the API sandbox"):
        yield url


def _server_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stats", timeout=5) as response:
        return json.load(response)["requests"]


def test_http_figures_in_metrics_and_health(sandbox: str) -> None:
    config = {
        "base_url": sandbox,
        "auth": {"type": "bearer", "token": "sandbox-bearer-token"},
        "streams": [
            {
                "name": "items",
                "path": "/bearer/offset",
                "record_selector": "data.items",
                "primary_key": ["id"],
                "pagination": {"type": "offset", "page_size": 100},
            }
        ],
    }
    connector = AirbyteConnector.command("source-rest-api")
    before = _server_requests(sandbox)
    table = table_of(list(connector.read(config, ["items"])))
    sent = _server_requests(sandbox) - before
    metrics = connector.get_performance_metrics()
    assert table.num_rows == metrics["rows"] == RECORDS
    # the read's own requests: discover (the catalog) samples the first page first, in a run of its own
    assert 0 < metrics["http"]["requests"] <= sent
    assert metrics["http"]["retries"] == 0
    health = connector.check_health(config)
    assert health["healthy"] is True
    assert health["http"]["requests"] >= 1
