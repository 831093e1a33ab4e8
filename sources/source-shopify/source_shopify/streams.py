"""The streams: for each, the GraphQL selection of one node, where it hangs in the Admin API, its access scope and
its primary key; its JSON schema is `schemas/<name>.json`. Adding a stream is one entry here plus one schema.

A child stream (order_line_items, product_variants, inventory_levels) is a connection on its parent's nodes: it is
read in the same pass as its parent, and its rows carry the parent's id (`parent_key`) and the parent's updatedAt
(`parent_cursor`), which is the child's incremental cursor.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "schemas"

MONEY = "shopMoney { amount currencyCode }"
ADDRESS = "id address1 address2 city province provinceCode country countryCodeV2 zip phone company firstName lastName"
# without read_all_orders Shopify shows an app only the orders created in the last 60 days, and says nothing of it
ORDER_SCOPES = ("read_orders", "read_all_orders")
QUANTITY_NAMES = '["available", "on_hand", "committed", "incoming", "reserved"]'


@dataclass(frozen=True)
class Stream:
    name: str
    field: str  # the root connection (a parent) or the connection on the parent's node (a child)
    fields: str  # the selection of one node
    scopes: tuple[str, ...]  # the access scopes reading it needs
    sort_key: str | None = "UPDATED_AT"  # None: the connection cannot sort by updatedAt (unordered cursor)
    parent: str | None = None
    parent_key: str | None = None  # the child row's field holding its parent's id
    lookup: str | None = None  # the single-node query field of the parent, to page a child connection further
    node_type: str | None = None  # a child's GraphQL type, as its GIDs name it (tells its lines in a bulk file)
    inline_first: int = 0  # a child's page size inside its parent's query
    single: bool = False  # one object, not a connection (`shop`)

    @property
    def primary_key(self) -> list[str]:
        return ["id"]

    @property
    def parent_cursor(self) -> str | None:
        """The child row's field holding its parent's updatedAt (its cursor)."""
        return f"{self.parent_key.removesuffix('_id')}_updated_at" if self.parent_key else None

    @property
    def cursor_field(self) -> str | None:
        if self.single:
            return None
        return self.parent_cursor or "updatedAt"

    @property
    def schema(self) -> dict[str, Any]:
        return _schema(self.name)


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


STREAMS: list[Stream] = [
    Stream(
        "shop",
        "shop",
        "id name email myshopifyDomain currencyCode ianaTimezone createdAt updatedAt primaryDomain { host url }",
        scopes=(),  # any token may read its shop
        single=True,
    ),
    Stream(
        "locations",
        "locations",
        "id name isActive createdAt updatedAt address { address1 address2 city province country countryCode zip }",
        scopes=("read_locations",),
        sort_key=None,
    ),
    Stream(
        "inventory_levels",
        "inventoryLevels",
        f"id createdAt updatedAt item {{ id sku }} location {{ id }} quantities(names: {QUANTITY_NAMES}) "
        "{ name quantity }",
        scopes=("read_inventory",),
        parent="locations",
        parent_key="location_id",
        lookup="location",
        node_type="InventoryLevel",
        inline_first=100,
    ),
    Stream(
        "customers",
        "customers",
        "id firstName lastName email phone state tags numberOfOrders amountSpent { amount currencyCode } "
        f"verifiedEmail taxExempt note createdAt updatedAt defaultAddress {{ {ADDRESS} }} "
        f"addresses(first: 250) {{ {ADDRESS} }}",
        scopes=("read_customers",),
    ),
    Stream(
        "products",
        "products",
        "id title handle vendor productType status tags createdAt updatedAt publishedAt",
        scopes=("read_products",),
    ),
    Stream(
        "product_variants",
        "variants",
        "id title sku barcode price compareAtPrice position inventoryQuantity createdAt updatedAt product { id } "
        "inventoryItem { id }",
        scopes=("read_products",),
        parent="products",
        parent_key="product_id",
        lookup="product",
        node_type="ProductVariant",
        inline_first=10,
    ),
    Stream(
        "orders",
        "orders",
        "id name email createdAt updatedAt processedAt cancelledAt closedAt note tags currencyCode "
        f"displayFinancialStatus displayFulfillmentStatus customer {{ id }} totalPriceSet {{ {MONEY} }} "
        f"subtotalPriceSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }}",
        scopes=ORDER_SCOPES,
    ),
    Stream(
        "order_line_items",
        "lineItems",
        f"id name sku quantity currentQuantity variant {{ id }} product {{ id }} originalUnitPriceSet {{ {MONEY} }} "
        f"discountedTotalSet {{ {MONEY} }}",
        scopes=ORDER_SCOPES,
        parent="orders",
        parent_key="order_id",
        lookup="order",
        node_type="LineItem",
        inline_first=10,
    ),
]
BY_NAME = {s.name: s for s in STREAMS}


def children_of(parent: str) -> list[Stream]:
    return [s for s in STREAMS if s.parent == parent]
