"""Resolvers: the computed fields shared by graphql-core execution and the bulk walker, root connections,
single lookups, scopes and mutations. Plain fields need none: graphql-core's default resolver reads the dicts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from source_shopify.sandbox import search
from source_shopify.sandbox.data import Dataset, gid, now
from source_shopify.sandbox.table import Page, Record, Table, child_page

if TYPE_CHECKING:
    from source_shopify.sandbox.bulk import BulkOperations

MAX_PAGE = 250
RECENT_ORDER_DAYS = 60  # the orders an app without read_all_orders sees
SCOPE_DOCS = "https://shopify.dev/api/usage/access-scopes"
# (type, field) -> the access scope it needs
SCOPES = {
    ("QueryRoot", "customers"): "read_customers",
    ("QueryRoot", "customer"): "read_customers",
    ("QueryRoot", "orders"): "read_orders",
    ("QueryRoot", "order"): "read_orders",
    ("QueryRoot", "products"): "read_products",
    ("QueryRoot", "product"): "read_products",
    ("QueryRoot", "productVariants"): "read_products",
    ("QueryRoot", "productVariant"): "read_products",
    ("QueryRoot", "locations"): "read_locations",
    ("QueryRoot", "location"): "read_locations",
    ("Location", "inventoryLevels"): "read_inventory",
    ("Mutation", "orderUpdate"): "write_orders",
    ("Mutation", "customerUpdate"): "write_customers",
    ("Mutation", "productUpdate"): "write_products",
    ("Mutation", "productVariantsBulkUpdate"): "write_products",
}
# root connection field -> the Dataset table it pages
ROOT_TABLES = {
    "orders": "orders",
    "customers": "customers",
    "products": "products",
    "productVariants": "variants",
    "locations": "locations",
}


@dataclass
class Context:
    data: Dataset
    scopes: frozenset[str]
    bulk: BulkOperations
    base_url: str  # where the sandbox answers, for bulk file URLs
    gone: Callable[[], bool]  # whether this single lookup finds its object deleted (a `gone` fault)


def access_denied(field: str, scope: str) -> GraphQLError:
    required = f"`{scope}` access scope."
    return GraphQLError(
        f"Access denied for {field} field. Required access: {required}",
        extensions={"code": "ACCESS_DENIED", "documentation": SCOPE_DOCS, "requiredAccess": required},
    )


def page_size(first: int | None) -> int:
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first < 0 or first > MAX_PAGE:
        raise GraphQLError(f"The first argument must be between 0 and {MAX_PAGE}, got {first}.")
    return first


def numeric_id(value: str, kind: str) -> int | None:
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", value or "")
    return int(match.group(1)) if match else None


def bag(amount: str) -> dict[str, Any]:
    money = {"amount": amount, "currencyCode": "USD"}
    return {"shopMoney": money, "presentmentMoney": money}


def inventory_item(variant: Record) -> Record:
    return {"id": gid("InventoryItem", variant["_n"]), "sku": variant["sku"], "tracked": True}


def _levels(location: Record, args: dict[str, Any], ctx: Context) -> list[Record]:
    conditions = search.parse(args.get("query"))
    return [r for r in location["_levels"] if all(c.matches(r) for c in conditions)]


Computed = Callable[[Record, dict[str, Any], Context], Any]
# (type -> field -> fn(record, args, ctx)): fields built from the records' internal keys
COMPUTED: dict[str, dict[str, Computed]] = {
    "Order": {
        "customer": lambda o, a, c: c.data.customers.get(o["_customer"]),
        "totalPriceSet": lambda o, a, c: bag(o["_total"]),
        "subtotalPriceSet": lambda o, a, c: bag(o["_subtotal"]),
        "totalTaxSet": lambda o, a, c: bag(o["_tax"]),
    },
    "LineItem": {
        "variant": lambda li, a, c: c.data.variants.get(li["_variant"]),
        "product": lambda li, a, c: c.data.products.get(li["_product"]),
        "originalUnitPriceSet": lambda li, a, c: bag(li["_price"]),
        "discountedTotalSet": lambda li, a, c: bag(li["_discounted"]),
    },
    "Customer": {
        "amountSpent": lambda cu, a, c: {"amount": cu["_spent"], "currencyCode": "USD"},
        "defaultAddress": lambda cu, a, c: cu["_addresses"][0] if cu["_addresses"] else None,
        "addresses": lambda cu, a, c: cu["_addresses"][: a["first"]] if a.get("first") else cu["_addresses"],
    },
    "ProductVariant": {
        "product": lambda v, a, c: c.data.products.get(v["_product"]),
        "inventoryItem": lambda v, a, c: inventory_item(v),
    },
    "InventoryLevel": {
        "item": lambda lv, a, c: inventory_item(c.data.variants.get(lv["_item"])),
        "location": lambda lv, a, c: c.data.locations.get(lv["_location"]),
        "quantities": lambda lv, a, c: [
            {"name": name, "quantity": lv["_quantities"][name]} for name in a["names"] if name in lv["_quantities"]
        ],
    },
}
# (type, connection field) -> fn(record, args, ctx): every child node, in id order
CHILDREN: dict[tuple[str, str], Computed] = {
    ("Order", "lineItems"): lambda o, a, c: o["_items"],
    ("Product", "variants"): lambda p, a, c: p["_variants"],
    ("Location", "inventoryLevels"): _levels,
}


def _check_scope(info: GraphQLResolveInfo) -> None:
    scope = SCOPES.get((info.parent_type.name, info.field_name))
    if scope is not None and scope not in info.context.scopes:
        raise access_denied(info.field_name, scope)


def _computed(fn: Computed) -> Callable[..., Any]:
    return lambda obj, info, **args: fn(obj, args, info.context)


def _child_connection(fn: Computed) -> Callable[..., Page]:
    def resolve(obj: Record, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None, **args):
        _check_scope(info)
        return child_page(fn(obj, args, info.context), page_size(first), after)

    return resolve


def visible(table: str, conditions: list[search.Condition], ctx: Context) -> list[search.Condition]:
    """`conditions` plus what the token may see: without `read_all_orders`, the orders of the last 60 days."""
    if table == "orders" and "read_all_orders" not in ctx.scopes:
        window = (datetime.now(UTC) - timedelta(days=RECENT_ORDER_DAYS)).strftime(search.FORMAT)
        return [*conditions, search.Condition("createdAt", ">=", window)]
    return conditions


def _root_connection(table: str) -> Callable[..., Page]:
    def resolve(
        _: Any,
        info: GraphQLResolveInfo,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        sortKey: str = "ID",
        reverse: bool = False,
    ) -> Page:
        _check_scope(info)
        records: Table = getattr(info.context.data, table)
        conditions = visible(table, search.parse(query), info.context)
        return records.page(sortKey, reverse, conditions, page_size(first), after)

    return resolve


def _lookup(table: str, kind: str) -> Callable[..., Record | None]:
    def resolve(_: Any, info: GraphQLResolveInfo, id: str) -> Record | None:
        _check_scope(info)
        n = numeric_id(id, kind)
        return None if n is None or info.context.gone() else getattr(info.context.data, table).get(n)

    return resolve


def _missing(kind: str) -> list[dict[str, Any]]:
    return [{"field": ["id"], "message": f"{kind} does not exist"}]


def _update(table: str, kind: str, payload_key: str, input_key: str, fields: tuple[str, ...]) -> Callable[..., Any]:
    """A `<thing>Update(<input_key>: {id, ...})` mutation: set the given fields and `updatedAt` to now."""

    def resolve(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        _check_scope(info)
        values = args[input_key]
        records: Table = getattr(info.context.data, table)
        n = numeric_id(values.get("id"), kind)
        if n is None or records.get(n) is None:
            return {payload_key: None, "userErrors": _missing(kind)}
        changes = {f: values[f] for f in fields if f in values}
        return {payload_key: records.update(n, {**changes, "updatedAt": now()}), "userErrors": []}

    return resolve


def _variants_bulk_update(_: Any, info: GraphQLResolveInfo, productId: str, variants: list[dict]) -> dict:
    _check_scope(info)
    data: Dataset = info.context.data
    n = numeric_id(productId, "Product")
    product = data.products.get(n) if n is not None else None
    if product is None:
        return {
            "product": None,
            "productVariants": None,
            "userErrors": [{"field": ["productId"], "message": "Product does not exist"}],
        }
    own = {v["_n"] for v in product["_variants"]}
    wanted = [numeric_id(v.get("id"), "ProductVariant") for v in variants]
    errors = [
        {"field": ["variants", str(i), "id"], "message": "Product variant does not exist"}
        for i, v in enumerate(wanted)
        if v not in own
    ]
    if errors:
        return {"product": product, "productVariants": None, "userErrors": errors}
    stamp = now()
    updated = []
    for v, values in zip(wanted, variants, strict=True):
        changes = {"price": values["price"]} if values.get("price") is not None else {}
        updated.append(data.variants.update(v, {**changes, "updatedAt": stamp}))
    data.products.update(product["_n"], {"updatedAt": stamp})
    return {"product": product, "productVariants": updated, "userErrors": []}


def _app_installation(_: Any, info: GraphQLResolveInfo) -> Record:
    scopes = [{"handle": s, "description": s.replace("_", " ")} for s in sorted(info.context.scopes)]
    return {"id": gid("AppInstallation", 1), "accessScopes": scopes}


def attach(schema: GraphQLSchema) -> GraphQLSchema:
    """Set the resolvers on the schema built from the SDL."""
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    for type_name, fields in COMPUTED.items():
        for field, fn in fields.items():
            schema.type_map[type_name].fields[field].resolve = _computed(fn)  # type: ignore[union-attr]
    for (type_name, field), fn in CHILDREN.items():
        schema.type_map[type_name].fields[field].resolve = _child_connection(fn)  # type: ignore[union-attr]
    for field, table in ROOT_TABLES.items():
        query.fields[field].resolve = _root_connection(table)
    lookups = {
        "order": ("orders", "Order"),
        "customer": ("customers", "Customer"),
        "product": ("products", "Product"),
        "productVariant": ("variants", "ProductVariant"),
        "location": ("locations", "Location"),
    }
    for field, (table, kind) in lookups.items():
        query.fields[field].resolve = _lookup(table, kind)
    query.fields["shop"].resolve = lambda _, info: info.context.data.shop
    query.fields["currentAppInstallation"].resolve = _app_installation
    query.fields["currentBulkOperation"].resolve = lambda _, info, **a: info.context.bulk.current()
    query.fields["bulkOperation"].resolve = lambda _, info, id: info.context.bulk.by_id(id)
    fields = mutation.fields
    fields["orderUpdate"].resolve = _update("orders", "Order", "order", "input", ("note", "tags", "email"))
    customer_fields = ("note", "tags", "email", "firstName", "lastName")
    fields["customerUpdate"].resolve = _update("customers", "Customer", "customer", "input", customer_fields)
    fields["productUpdate"].resolve = _update("products", "Product", "product", "product", ("title", "tags"))
    fields["productVariantsBulkUpdate"].resolve = _variants_bulk_update
    fields["bulkOperationRunQuery"].resolve = lambda _, info, query: info.context.bulk.start(query, info.context)
    fields["bulkOperationCancel"].resolve = lambda _, info, id: info.context.bulk.cancel(id)
    return schema
