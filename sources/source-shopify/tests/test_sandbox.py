"""The Shopify sandbox itself, through real HTTP on a server process: paging, search, cost and throttling,
scopes, auth, bulk operations and mutations, as the contract describes them."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from source_core.testing import free_port, served
from source_shopify.sandbox import FULL_TOKEN, LIMITED_TOKEN

ORDERS = 2000
SHOP = "sandbox-shop"
ORDERS_PAGE = """query($after: String, $query: String) {
  orders(first: 250, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges { cursor node { id updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


class Client:
    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def graphql(
        self, query: str, variables: dict | None = None, token: str = FULL_TOKEN, shop: str = SHOP
    ) -> requests.Response:
        return self.http.post(
            f"{self.url}/{shop}/admin/api/2026-10/graphql.json",
            data=orjson.dumps({"query": query, "variables": variables or {}}),
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
        )

    def data(self, query: str, variables: dict | None = None) -> dict[str, Any]:
        body = self.graphql(query, variables).json()
        assert "errors" not in body, body
        return body["data"]

    def control(self, payload: dict[str, Any]) -> None:
        self.http.post(f"{self.url}/_control", json=payload).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return self.http.get(f"{self.url}/_stats").json()

    def orders(self, query: str | None = None) -> list[tuple[str, str]]:
        """(updatedAt, id) of every order matching `query`, page after page."""
        seen, after = [], None
        while True:
            page = self.data(ORDERS_PAGE, {"after": after, "query": query})["orders"]
            seen += [(e["node"]["updatedAt"], e["node"]["id"]) for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]

    def bulk(self, query: str) -> dict[str, Any]:
        """Run a bulk query and wait for it to end; the final currentBulkOperation."""
        run = """mutation($q: String!) {
          bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { field message code } }
        }"""
        started = self.data(run, {"q": query})["bulkOperationRunQuery"]
        assert started["userErrors"] == [] and started["bulkOperation"]["status"] == "CREATED"
        current = "{ currentBulkOperation { id status errorCode objectCount rootObjectCount url partialDataUrl } }"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            operation = self.data(current)["currentBulkOperation"]
            if operation["status"] not in ("CREATED", "RUNNING"):
                assert operation["id"] == started["bulkOperation"]["id"]
                return operation
            time.sleep(0.05)
        pytest.fail("the bulk operation did not end within 20 s")


@pytest.fixture(scope="module")
def server() -> Iterator[Client]:
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}")
    argv = [sys.executable, "-m", "source_shopify.sandbox", "--port", str(port), "--orders", str(ORDERS)]
    with served(argv, f"{client.url}/_stats", "the Shopify sandbox"):
        yield client


@pytest.fixture
def shop(server: Client) -> Client:
    server.http.post(f"{server.url}/_reset").raise_for_status()
    return server


@pytest.fixture
def roomy(shop: Client) -> Client:
    """The shop with a bucket big enough to page through everything without waiting."""
    shop.control({"bucket": 1_000_000})
    return shop


def test_pages_return_every_order_once_in_updated_at_then_id_order(roomy: Client) -> None:
    shop = roomy
    seen = shop.orders()
    numeric = [(updated, int(gid.rsplit("/", 1)[1])) for updated, gid in seen]
    assert len(seen) == ORDERS and len(set(seen)) == ORDERS
    assert numeric == sorted(numeric)
    assert len({updated for updated, _ in seen}) < ORDERS  # ties on updatedAt, broken by id


def test_updated_at_filter(roomy: Client) -> None:
    shop = roomy
    every = shop.orders()
    middle = every[ORDERS // 2][0]
    assert shop.orders(f"updated_at:>='{middle}'") == [o for o in every if o[0] >= middle]
    assert shop.orders(f'updated_at:>"{middle}" AND created_at:>=2024-01-01') == [o for o in every if o[0] > middle]
    assert shop.orders(f"updated_at:<{middle}") == [o for o in every if o[0] < middle]


def test_cost_extensions(shop: Client) -> None:
    query = "{ orders(first: 10) { nodes { id customer { id } lineItems(first: 5) { nodes { id } } } } }"
    cost = shop.graphql(query).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 1 + 2 + 5)
    assert 10 < cost["actualQueryCost"] <= cost["requestedQueryCost"]
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0
    too_big = shop.graphql("{ orders(first: 250) { nodes { id lineItems(first: 5) { nodes { id } } } } }").json()
    assert too_big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    stats = shop.stats()
    assert stats["points_requested"] == cost["requestedQueryCost"]
    assert stats["points_spent"] == cost["actualQueryCost"]
    assert stats["by_root_field"] == {"orders": 1}


def test_throttled_when_the_bucket_is_low(shop: Client) -> None:
    shop.control({"bucket": 100, "restore_rate": 1})
    body = shop.graphql("{ orders(first: 200) { nodes { id } } }").json()
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
    ]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 202 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["maximumAvailable"] == 100.0 and cost["throttleStatus"]["restoreRate"] == 1.0
    assert shop.stats()["throttled"] == 1
    assert shop.graphql("{ orders(first: 50) { nodes { id } } }").json()["extensions"]["cost"]["actualQueryCost"] == 52


def test_limited_token_is_denied_orders_and_customers(shop: Client) -> None:
    body = shop.graphql(
        "{ customers(first: 1) { nodes { id } } products(first: 1) { nodes { id } } }", token=LIMITED_TOKEN
    ).json()
    assert body["data"] == {"customers": None, "products": {"nodes": [{"id": "gid://shopify/Product/1"}]}}
    [error] = body["errors"]
    assert error["path"] == ["customers"] and error["locations"]
    assert error["message"] == "Access denied for customers field. Required access: `read_customers` access scope."
    assert error["extensions"] == {
        "code": "ACCESS_DENIED",
        "documentation": "https://shopify.dev/api/usage/access-scopes",
        "requiredAccess": "`read_customers` access scope.",
    }
    assert "cost" in body["extensions"]


def test_bad_token_and_unknown_shop(shop: Client) -> None:
    response = shop.graphql("{ shop { id } }", token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    response = shop.graphql("{ shop { id } }", shop="another-shop")
    assert response.status_code == 404 and response.json() == {"errors": "Not Found"}
    response = shop.graphql("{ shop { name } }")
    assert response.status_code == 200 and response.headers["X-Shopify-API-Version"] == "2026-10"


def test_bulk_jsonl_has_every_order_and_line_item_under_its_parent(roomy: Client) -> None:
    shop = roomy
    operation = shop.bulk(
        "{ orders { edges { node { id updatedAt totalPriceSet { shopMoney { amount } } "
        "lineItems { edges { node { id quantity } } } } } } }"
    )
    assert operation["status"] == "COMPLETED" and operation["errorCode"] is None
    lines = [orjson.loads(line) for line in shop.http.get(operation["url"]).content.splitlines()]
    orders = [line for line in lines if "__parentId" not in line]
    assert sorted(o["id"] for o in orders) == sorted({gid for _, gid in shop.orders()})
    assert all(o["totalPriceSet"]["shopMoney"]["amount"] for o in orders)
    items: dict[str, list[str]] = {}
    for line in lines:
        if "__parentId" in line:
            items.setdefault(line["__parentId"], []).append(line["id"])
    expected, after = {}, None
    page = """query($after: String) {
      orders(first: 100, after: $after) {
        nodes { id lineItems(first: 5) { nodes { id } } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    while True:
        result = shop.data(page, {"after": after})["orders"]
        expected |= {o["id"]: [li["id"] for li in o["lineItems"]["nodes"]] for o in result["nodes"]}
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert items == expected
    assert int(operation["objectCount"]) == len(lines) and int(operation["rootObjectCount"]) == ORDERS
    assert shop.stats()["bulk_operations"] == 1


def test_bulk_fail_fault_leaves_partial_data(shop: Client) -> None:
    shop.control({"faults": [{"kind": "bulk_fail", "count": 1}]})
    operation = shop.bulk("{ orders { edges { node { id } } } }")
    assert operation["status"] == "FAILED" and operation["errorCode"] == "INTERNAL_SERVER_ERROR"
    assert operation["url"] is None and operation["partialDataUrl"]
    partial = shop.http.get(operation["partialDataUrl"]).content.splitlines()
    assert 0 < len(partial) < ORDERS
    assert shop.bulk("{ orders { edges { node { id } } } }")["status"] == "COMPLETED"  # the fault is spent


def test_mutation_moves_updated_at(roomy: Client) -> None:
    shop = roomy
    first_updated, first_id = shop.orders()[0]
    update = """mutation($input: OrderInput!) {
      orderUpdate(input: $input) { order { id updatedAt note } userErrors { field message } }
    }"""
    result = shop.data(update, {"input": {"id": first_id, "note": "moved"}})["orderUpdate"]
    assert result["userErrors"] == [] and result["order"]["note"] == "moved"
    assert result["order"]["updatedAt"] > first_updated
    assert shop.orders()[-1] == (result["order"]["updatedAt"], first_id)
    assert shop.orders(f"updated_at:>='{result['order']['updatedAt']}'") == [(result["order"]["updatedAt"], first_id)]
