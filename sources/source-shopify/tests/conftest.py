"""Fixtures for source-shopify tests: the Shopify sandbox as a real server process on a free loopback port (reset
before each test), the connector in-process (the CLI's own output path) and as its real CLI in a subprocess, and
the sandbox's own view of its data to compare reads with. If the sandbox cannot start, the tests fail."""

from __future__ import annotations

import io
import json
import logging
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStateMessageSerializer, ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.launch import write_messages
from source_core.testing import Cli, Run, free_port, parse_output, served
from source_shopify.sandbox import FULL_TOKEN, LIMITED_TOKEN, RECENT_ORDERS_TOKEN
from source_shopify.source import SourceShopify
from source_shopify.streams import BY_NAME, STREAMS

SHOP = "sandbox-shop"
API = "2026-10"
SEED = {"orders": 400, "customers": 120, "products": 40, "locations": 3}
CLI = [sys.executable, "-c", "from source_shopify.run import run; run()"]
FAST_HTTP = {
    "backoff_initial_seconds": 0.05,
    "backoff_max_seconds": 0.3,
    "read_timeout_seconds": 5.0,
    "breaker_failures": 20,
    "breaker_cooldown_seconds": 0.3,
    "max_retries": 6,
}
SECRETS = [FULL_TOKEN, LIMITED_TOKEN, RECENT_ORDERS_TOKEN]
# parent stream -> (the connection on its node, the child stream)
CHILDREN = {s.parent: (s.field, s.name) for s in STREAMS if s.parent}


class Sandbox:
    def __init__(self, url: str):
        self.url = url
        self.graphql_url = f"{url}/{SHOP}/admin/api/{API}/graphql.json"

    def _post(self, url: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **(headers or {})}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def control(self, **settings: Any) -> None:
        self._post(self.url + "/_control", settings)

    def faults(self, *faults: dict[str, Any]) -> None:
        self.control(faults=list(faults))

    def reset(self) -> None:
        self._post(self.url + "/_reset", {})

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return json.loads(response.read())

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self._post(
            self.graphql_url, {"query": query, "variables": variables or {}}, {"X-Shopify-Access-Token": FULL_TOKEN}
        )
        assert not answer.get("errors"), answer
        return answer["data"]

    def all_nodes(self, field: str, selection: str, first: int = 50) -> list[dict[str, Any]]:
        """Every node of a root connection, straight from the sandbox (the truth a read is compared with)."""
        text = (
            f"query($after: String) {{ {field}(first: {first}, after: $after) "
            f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {selection} }} }} }}"
        )
        nodes, after = [], None
        while True:
            connection = self.graphql(text, {"after": after})[field]
            nodes += connection["nodes"]
            if not connection["pageInfo"]["hasNextPage"]:
                return nodes
            after = connection["pageInfo"]["endCursor"]

    def truth(self) -> dict[str, list[str]]:
        """The ids of every stream's records as the sandbox holds them."""
        ids = {"shop": [self.graphql("{ shop { id } }")["shop"]["id"]]}
        for parent in ("locations", "customers", "products", "orders"):
            child = CHILDREN.get(parent)
            # every seeded parent has at most 5 children, a location one per variant
            child_first = 250 if parent == "locations" else 10
            inner = f"{child[0]}(first: {child_first}) {{ nodes {{ id }} }}" if child else ""
            nodes = self.all_nodes(BY_NAME[parent].field, f"id {inner}", first=1 if parent == "locations" else 50)
            ids[parent] = [n["id"] for n in nodes]
            if child:
                ids[child[1]] = [c["id"] for n in nodes for c in n[child[0]]["nodes"]]
        return ids

    def update_order(self, order_id: str, note: str) -> str:
        data = self.graphql(
            "mutation($input: OrderInput!) { orderUpdate(input: $input) { order { id updatedAt } "
            "userErrors { field message } } }",
            {"input": {"id": order_id, "note": note}},
        )
        return data["orderUpdate"]["order"]["updatedAt"]


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    port = free_port()
    server = Sandbox(f"http://127.0.0.1:{port}")
    argv = [sys.executable, "-m", "source_shopify.sandbox", "--port", str(port)]
    argv += [a for k, v in SEED.items() for a in (f"--{k}", str(v))]
    argv += ["--restore-rate", "1000000"]  # pacing is tested with its own rate; elsewhere the bucket never binds
    with served(argv, f"{server.url}/_stats", "the Shopify sandbox"):
        yield server


@pytest.fixture
def shop(sandbox_server: Sandbox) -> Sandbox:
    """The sandbox back at its seed: no faults, zeroed counts, a full bucket."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture(scope="session")
def truth(sandbox_server: Sandbox) -> dict[str, list[str]]:
    sandbox_server.reset()
    return sandbox_server.truth()


def config(sandbox: Sandbox, **settings: Any) -> dict[str, Any]:
    return {
        "shop": SHOP,
        "access_token": FULL_TOKEN,
        "base_url": sandbox.url + "/{shop}",
        "bulk_mode": "never",
        "http": FAST_HTTP,
        **settings,
    }


def catalog(*names: str, incremental: bool = True) -> dict[str, Any]:
    """A configured catalog of `names` (every stream if none), incremental where the stream can be."""
    streams = []
    for name in names or [s.name for s in STREAMS]:
        stream = BY_NAME[name]
        mode = "incremental" if incremental and stream.cursor_field else "full_refresh"
        streams.append(
            {
                "stream": {"name": name, "json_schema": stream.schema, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": mode,
                "destination_sync_mode": "append",
                "cursor_field": [stream.cursor_field] if mode == "incremental" else [],
            }
        )
    return {"streams": streams}


def read(cfg: dict[str, Any], cat: dict[str, Any], state: list[dict[str, Any]] | None = None) -> Run:
    """`read` in this process, through the launcher's own output path (the bytes the CLI would print); a read
    that fails ends as the CLI's would, with exit code 1."""
    out = io.BytesIO()
    messages = SourceShopify().read(
        logging.getLogger("source-shopify-test"),
        cfg,
        ConfiguredAirbyteCatalogSerializer.load(cat),
        [AirbyteStateMessageSerializer.load(s) for s in state] if state else None,
    )
    try:
        write_messages(messages, out)
    except AirbyteTracedException as exc:
        return parse_output(out.getvalue().decode(), exc.message or "", 1)
    return parse_output(out.getvalue().decode(), "", 0)


class Connector(Cli):
    """`source-shopify` as a separate process, with files written to a temp folder."""

    def __init__(self, folder: Path):
        super().__init__(CLI, folder)


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path)
