"""A local Shopify GraphQL Admin API for tests and benchmarks: `python -m source_shopify.sandbox --port 8766`
(`source-shopify-sandbox`, `make shopify-sandbox`). The contract it follows is the subset of Shopify's API in
`schema.graphql`, executed by graphql-core over a deterministic seed (`--seed`, `--orders`, ...).

Endpoints:
- `POST /{shop}/admin/api/{YYYY-MM}/graphql.json` with `X-Shopify-Access-Token`: the shop is `--shop`
  (`sandbox-shop`); another shop or version -> 404 `{"errors": "Not Found"}`; an unknown token -> 401.
  `FULL_TOKEN` has every read scope (`read_all_orders` too) plus `write_orders`, `write_customers`,
  `write_products`; `LIMITED_TOKEN` only `read_products`, `read_locations`, `read_inventory` (other root fields ->
  `ACCESS_DENIED` errors, data null); `RECENT_ORDERS_TOKEN` every read scope but `read_all_orders`, so that, as on
  Shopify, `orders` (paginated or in bulk) holds only the orders created in the last 60 days: none of the seed's.
- `GET /_bulk/<n>.jsonl`: a bulk operation's result, no token (403 once a `bulk_expire` fault expired it).

Cost (`cost.py`): scalars and enums 0, an object 1, a list of objects 1, a connection `2 + first * (1 + one
node's selection)`, a mutation root field 10; over 1000 -> `MAX_COST_EXCEEDED`. A leaky bucket of `--bucket`
points refilled at `--restore-rate` per second: the requested cost is taken before execution (not enough ->
`THROTTLED`, nothing runs), the difference to the actual cost (nodes returned) refunded after. Every executed
response carries `extensions.cost`.

Control (JSON, no token): `POST /_control` with any of `{"faults": [{"kind": K, "count": n, ...}], "restore_rate":
r, "bucket": b, "available": a}` (`bucket` sets the size and fills it to that size, `available` the current level).
Kinds: `500`, `502`, `503` (the next n GraphQL requests answer that status), `internal_error` (the next n answer 200
with an `INTERNAL_SERVER_ERROR` error, as Shopify reports its own failures), `slow` (`seconds`, then answered), `ok`
(n requests pass), `gone` (the next n single lookups, `order(id:)`, `location(id:)`..., answer null as for an object
deleted since it was listed), `bulk_fail` (the next bulk operation writes half its records, then ends FAILED /
INTERNAL_SERVER_ERROR with `partialDataUrl`), `bulk_expire` (the next completed bulk operation's URL answers 403),
`bulk_shuffle` (the next bulk operation's lines come in a random order, children before their parents too: Shopify
promises no order), `bulk_slow` (`seconds`: the next bulk operation stays RUNNING that long), `bulk_touch` (half-way
through its file, the next bulk operation's first record, already written, then its last, still to come, are
changed: `updatedAt` now; the file holds the last one's new version only, as an export that is no snapshot
would). `GET /_stats`: requests, GraphQL requests, throttled, points requested and spent (of executed queries),
HTTP statuses, bulk operations started, executed requests per root field, the bucket. `POST /_reset`: back to the
seed (data, faults, counts, bulk operations; the bucket full with the CLI's size and rate).
"""

from source_shopify.sandbox.server import (
    FULL_TOKEN,
    LIMITED_TOKEN,
    RECENT_ORDERS_TOKEN,
    Options,
    Sandbox,
    SandboxServer,
)

__all__ = ["FULL_TOKEN", "LIMITED_TOKEN", "RECENT_ORDERS_TOKEN", "Options", "Sandbox", "SandboxServer"]
