"""The deterministic seed: one `random.Random(seed)` draws every record, so two runs with the same options match.

Records are flat dicts keyed by GraphQL field names (served by graphql-core's default resolver and the bulk walker
alike); `_`-prefixed keys are internal (`_n` the numeric id, references, money amounts) and are turned into
objects by `resolvers.COMPUTED`. Timestamps sit on a one-minute grid from 2024-01-01T00:00:00Z with about three
records created per minute, so several records share each `updatedAt` value (cursor ties).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from source_shopify.sandbox.table import Record, Table

EPOCH = 1704067200  # 2024-01-01T00:00:00Z
UPDATE_DELAYS = (0, 0, 0, 1, 2, 3, 5, 10, 60, 240, 1440, 10080)  # minutes between creation and last update
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth")
CITIES = (
    ("Ottawa", "Ontario", "ON", "Canada", "CA", "K1A 0B1"),
    ("Toronto", "Ontario", "ON", "Canada", "CA", "M5H 2N2"),
    ("New York", "New York", "NY", "United States", "US", "10001"),
    ("Austin", "Texas", "TX", "United States", "US", "73301"),
    ("London", "England", "ENG", "United Kingdom", "GB", "EC1A 1BB"),
    ("Berlin", "Berlin", "BE", "Germany", "DE", "10115"),
    ("Paris", "Ile-de-France", "IDF", "France", "FR", "75001"),
)
PRODUCT_WORDS = ("Alpine", "Basic", "Classic", "Deluxe", "Eco", "Field", "Granite", "Harbor", "Indigo", "Juniper")
PRODUCT_KINDS = ("Shirt", "Mug", "Backpack", "Lamp", "Notebook", "Scarf", "Bottle", "Chair")
SIZES = ("S", "M", "L", "XL")
TAGS = ("vip", "wholesale", "newsletter", "gift", "returning", "promo")
_stamps: dict[int, str] = {}


def stamp(minute: int) -> str:
    """The RFC 3339 text of EPOCH + `minute` minutes, shared between records with equal values."""
    text = _stamps.get(minute)
    if text is None:
        text = _stamps[minute] = datetime.fromtimestamp(EPOCH + minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Dataset:
    shop: Record
    locations: Table
    levels: dict[int, Record]  # inventory levels by numeric id
    customers: Table
    products: Table
    variants: Table
    orders: Table


def _times(rng: random.Random, i: int) -> tuple[str, str]:
    """createdAt and updatedAt of the i-th record (from 0) of a type: three created per minute."""
    created = i // 3
    return stamp(created), stamp(created + rng.choice(UPDATE_DELAYS))


def _address(rng: random.Random, n: int, first: str, last: str) -> Record:
    city, province, code, country, country_code, zip_code = rng.choice(CITIES)
    return {
        "id": f"gid://shopify/MailingAddress/{n}?model_name=CustomerAddress",
        "address1": f"{rng.randint(1, 999)} Main Street",
        "address2": rng.choice((None, f"Suite {rng.randint(1, 50)}")),
        "city": city,
        "province": province,
        "provinceCode": code,
        "country": country,
        "countryCodeV2": country_code,
        "zip": zip_code,
        "phone": f"+1613555{n % 10000:04d}",
        "company": rng.choice((None, "Acme", "Initech")),
        "firstName": first,
        "lastName": last,
    }


def _locations(rng: random.Random, count: int) -> list[Record]:
    records = []
    for i in range(count):
        city, province, code, country, country_code, zip_code = CITIES[i % len(CITIES)]
        created, updated = _times(rng, i)
        address = {"address1": f"{i + 1} Warehouse Road", "address2": None, "city": city, "province": province}
        address |= {"provinceCode": code, "country": country, "countryCode": country_code, "zip": zip_code}
        address["phone"] = None
        records.append(
            {
                "_n": i + 1,
                "id": gid("Location", i + 1),
                "name": f"{city} warehouse",
                "isActive": i % 5 != 4,
                "createdAt": created,
                "updatedAt": updated,
                "address": address,
                "_levels": [],
            }
        )
    return records


def _products(rng: random.Random, count: int) -> tuple[list[Record], list[Record]]:
    products, variants = [], []
    for i in range(count):
        n = i + 1
        created, updated = _times(rng, i)
        title = f"{rng.choice(PRODUCT_WORDS)} {rng.choice(PRODUCT_KINDS)} {n}"
        product = {
            "_n": n,
            "id": gid("Product", n),
            "title": title,
            "handle": title.lower().replace(" ", "-"),
            "vendor": rng.choice(("Acme", "Globex", "Initech")),
            "productType": title.split()[1],
            "status": rng.choice(("ACTIVE", "ACTIVE", "ACTIVE", "DRAFT", "ARCHIVED")),
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "createdAt": created,
            "updatedAt": updated,
            "publishedAt": created if i % 4 else None,
            "_variants": [],
        }
        base = rng.randint(500, 20000)
        for position, size in enumerate(SIZES[: rng.randint(1, 4)], 1):
            v = len(variants) + 1
            sku = f"SKU-{n:05d}-{size}"
            variant = {
                "_n": v,
                "id": gid("ProductVariant", v),
                "title": size,
                "sku": sku,
                "barcode": f"{400000000000 + v}",
                "price": money(base + 100 * position),
                "compareAtPrice": rng.choice((None, money(base + 100 * position + 500))),
                "position": position,
                "inventoryQuantity": rng.randint(0, 500),
                "createdAt": created,
                "updatedAt": updated,
                "_product": n,
            }
            variants.append(variant)
            product["_variants"].append(variant)
        products.append(product)
    return products, variants


def _levels(rng: random.Random, locations: list[Record], variants: list[Record]) -> dict[int, Record]:
    levels = {}
    for location in locations:
        for variant in variants:
            n = len(levels) + 1
            available = rng.randint(0, 200)
            committed = rng.randint(0, 20)
            level = {
                "_n": n,
                "id": gid("InventoryLevel", n),
                "createdAt": variant["createdAt"],
                "updatedAt": max(variant["updatedAt"], location["updatedAt"]),
                "_item": variant["_n"],
                "_location": location["_n"],
                "_quantities": {
                    "available": available,
                    "committed": committed,
                    "on_hand": available + committed,
                    "incoming": rng.choice((0, 0, 10, 50)),
                    "reserved": 0,
                },
            }
            levels[n] = level
            location["_levels"].append(level)
    return levels


def _customers(rng: random.Random, count: int) -> list[Record]:
    customers = []
    addresses = 0
    for i in range(count):
        n = i + 1
        created, updated = _times(rng, i)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        own = []
        for _ in range(rng.choice((0, 1, 1, 3, 4))):
            addresses += 1
            own.append(_address(rng, addresses, first, last))
        customers.append(
            {
                "_n": n,
                "id": gid("Customer", n),
                "firstName": first,
                "lastName": last,
                "email": f"{first.lower()}.{last.lower()}.{n}@example.com",
                "phone": rng.choice((None, f"+1613555{n % 10000:04d}")),
                "state": rng.choice(("ENABLED", "ENABLED", "DISABLED", "INVITED", "DECLINED")),
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
                "numberOfOrders": "0",
                "_spent": 0,
                "verifiedEmail": rng.random() < 0.9,
                "taxExempt": rng.random() < 0.05,
                "note": rng.choice((None, "", "prefers email")),
                "createdAt": created,
                "updatedAt": updated,
                "_addresses": own,
            }
        )
    return customers


FINANCIAL = ("PAID", "PAID", "PAID", "PENDING", "AUTHORIZED", "PARTIALLY_REFUNDED", "REFUNDED")
FULFILLMENT = ("FULFILLED", "FULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED")


def _orders(rng: random.Random, count: int, customers: list[Record], variants: list[Record]) -> list[Record]:
    orders = []
    items = 0
    for i in range(count):
        n = 1001 + i
        created, updated = _times(rng, i)
        customer = rng.choice(customers) if customers and rng.random() < 0.9 else None
        line_items = []
        subtotal = 0
        for _ in range(rng.randint(1, 5)):
            items += 1
            variant = rng.choice(variants)
            quantity = rng.randint(1, 3)
            price = int(variant["price"].replace(".", ""))
            discount = rng.choice((0, 0, 0, 10))
            total = price * quantity * (100 - discount) // 100
            subtotal += total
            line_items.append(
                {
                    "_n": items,
                    "id": gid("LineItem", items),
                    "name": f"Item {variant['_product']} - {variant['title']}",
                    "sku": variant["sku"],
                    "quantity": quantity,
                    "currentQuantity": quantity,
                    "_variant": variant["_n"],
                    "_product": variant["_product"],
                    "_price": money(price),
                    "_discounted": money(total),
                }
            )
        tax = subtotal * 13 // 100
        financial = rng.choice(FINANCIAL)
        cancelled = financial == "REFUNDED" and rng.random() < 0.5
        if customer is not None:
            customer["numberOfOrders"] = str(int(customer["numberOfOrders"]) + 1)
            customer["_spent"] += subtotal + tax
        orders.append(
            {
                "_n": n,
                "id": gid("Order", n),
                "name": f"#{n}",
                "email": customer["email"] if customer else None,
                "createdAt": created,
                "updatedAt": updated,
                "processedAt": created,
                "cancelledAt": updated if cancelled else None,
                "closedAt": updated if financial == "PAID" else None,
                "note": rng.choice((None, None, "leave at the door")),
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
                "currencyCode": "USD",
                "displayFinancialStatus": financial,
                "displayFulfillmentStatus": rng.choice(FULFILLMENT),
                "_customer": customer["_n"] if customer else None,
                "_total": money(subtotal + tax),
                "_subtotal": money(subtotal),
                "_tax": money(tax),
                "_items": line_items,
            }
        )
    for customer in customers:
        customer["_spent"] = money(customer["_spent"])
    return orders


def generate(seed: int, shop: str, orders: int, customers: int, products: int, locations: int) -> Dataset:
    rng = random.Random(seed)
    location_records = _locations(rng, locations)
    product_records, variant_records = _products(rng, max(products, 1))
    levels = _levels(rng, location_records, variant_records)
    customer_records = _customers(rng, customers)
    order_records = _orders(rng, orders, customer_records, variant_records)
    dated = {"ID": "_n", "UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt"}
    return Dataset(
        shop={
            "id": gid("Shop", 1),
            "name": shop.replace("-", " ").title(),
            "email": f"owner@{shop}.example.com",
            "myshopifyDomain": f"{shop}.myshopify.com",
            "currencyCode": "USD",
            "ianaTimezone": "America/Toronto",
            "createdAt": stamp(0),
            "updatedAt": stamp(0),
            "primaryDomain": {
                "id": gid("Domain", 1),
                "host": f"{shop}.example.com",
                "url": f"https://{shop}.example.com",
            },
        },
        locations=Table(location_records, {"ID": "_n", "NAME": "name"}),
        levels=levels,
        customers=Table(customer_records, dated),
        products=Table(product_records, {**dated, "TITLE": "title"}),
        variants=Table(variant_records, {**dated, "POSITION": "position", "SKU": "sku", "TITLE": "title"}),
        orders=Table(order_records, {**dated, "PROCESSED_AT": "processedAt"}),
    )
