"""Reads of every stream, paginated and by bulk operation: each record exactly once, as the sandbox holds it."""

from __future__ import annotations

import pytest

from tests.conftest import Sandbox, catalog, config, read


@pytest.mark.parametrize("bulk_mode", ["never", "always"])
def test_every_record_exactly_once(shop: Sandbox, truth: dict[str, list[str]], bulk_mode: str) -> None:
    run = read(config(shop, bulk_mode=bulk_mode), catalog())
    assert run.exit_code == 0, run.describe()
    for stream, ids in truth.items():
        assert sorted(run.ids(stream)) == sorted(ids), stream
        assert len(set(run.ids(stream))) == len(ids), stream
    stats = shop.stats()
    assert stats["throttled"] == 0
    figures = run.logged("http_figures")
    assert figures["requests"] == stats["requests"]
    if bulk_mode == "always":
        assert stats["bulk_operations"] == 4  # one per family: locations, customers, products, orders
        assert "orders" not in stats["by_root_field"]
    else:
        assert stats["bulk_operations"] == 0
    # each parent's STATEs and its child's follow one another with no record between them
    kinds = [m["type"] for m in run.messages if m["type"] in ("RECORD", "STATE")]
    assert kinds[-1] == "STATE"


def test_rows_carry_parent_keys_and_every_address(shop: Sandbox) -> None:
    run = read(config(shop), catalog("customers", "orders", "order_line_items", "products", "product_variants"))
    assert run.exit_code == 0, run.describe()
    orders = {o["id"]: o for o in run.stream_data("orders")}
    for item in run.stream_data("order_line_items"):
        assert orders[item["order_id"]]["updatedAt"] == item["order_updated_at"]
    assert "lineItems" not in next(iter(orders.values()))
    products = {p["id"] for p in run.stream_data("products")}
    assert {v["product_id"] for v in run.stream_data("product_variants")} == products
    held = {
        c["id"]: [a["id"] for a in c["addresses"]]
        for c in shop.all_nodes("customers", "id addresses(first: 250) { id }")
    }
    read_back = {c["id"]: [a["id"] for a in c["addresses"]] for c in run.stream_data("customers")}
    assert read_back == held
    assert max(len(a) for a in held.values()) >= 3 and min(len(a) for a in held.values()) == 0


def test_bulk_and_paginated_give_the_same_records(shop: Sandbox) -> None:
    streams = ("orders", "order_line_items", "locations", "inventory_levels")
    paged = read(config(shop), catalog(*streams))
    bulk = read(config(shop, bulk_mode="always"), catalog(*streams))
    assert paged.exit_code == 0 and bulk.exit_code == 0
    for stream in streams:
        assert sorted(paged.stream_data(stream), key=lambda r: r["id"]) == sorted(
            bulk.stream_data(stream), key=lambda r: r["id"]
        ), stream


def test_a_child_alone_reads_its_parent_only_for_keys(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    run = read(config(shop), catalog("inventory_levels"))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("inventory_levels")) == sorted(truth["inventory_levels"])
    assert {s["stream"]["stream_descriptor"]["name"] for s in run.states} == {"inventory_levels"}


def test_a_bulk_file_in_any_order(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    """Shopify promises no order of a bulk file's lines: children before their parents still land once each."""
    shop.faults({"kind": "bulk_shuffle", "count": 1})
    run = read(config(shop, bulk_mode="always"), catalog("orders", "order_line_items"))
    assert run.exit_code == 0, run.describe()
    for stream in ("orders", "order_line_items"):
        assert sorted(run.ids(stream)) == sorted(truth[stream]), stream
    orders = {o["id"]: o["updatedAt"] for o in run.stream_data("orders")}
    assert all(orders[i["order_id"]] == i["order_updated_at"] for i in run.stream_data("order_line_items"))
    assert len(run.states) == 2  # one final STATE per stream: a mid-file one could run ahead of a line to come


def test_a_family_not_sorted_by_updated_at_states_only_at_the_end(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    """Locations come in id order, not updatedAt order: a STATE between pages could skip a later, older one."""
    shop.control(bucket=150)  # one location per page
    run = read(config(shop), catalog("locations", "inventory_levels"))
    assert run.exit_code == 0, run.describe()
    assert shop.stats()["by_root_field"]["locations"] == len(truth["locations"])
    assert [s["stream"]["stream_descriptor"]["name"] for s in run.states] == ["locations", "inventory_levels"]
    assert sorted(run.ids("inventory_levels")) == sorted(truth["inventory_levels"])
