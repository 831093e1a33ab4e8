"""Incremental reads: only changed parents (and their children) after updates, with the request counts to prove
it; a per-stream state for parents and children that never collide; exact resumption from any STATE."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Run, Sandbox, catalog, config, read

ORDERS = ("orders", "order_line_items")


def after_each_state(run: Run) -> list[tuple[list[dict[str, Any]], dict[str, list[str]]]]:
    """For each STATE: the state a run would keep there, and per stream the ids emitted after its last STATE."""
    found = []
    for position, message in enumerate(run.messages):
        if message["type"] != "STATE":
            continue
        kept: dict[str, dict] = {}
        last: dict[str, int] = {}
        for index, earlier in enumerate(run.messages[: position + 1]):
            if earlier["type"] == "STATE":
                name = earlier["state"]["stream"]["stream_descriptor"]["name"]
                kept[name], last[name] = {"type": "STREAM", "stream": earlier["state"]["stream"]}, index
        rest: dict[str, list[str]] = {}
        for index, later in enumerate(run.messages):
            if later["type"] == "RECORD" and index > last.get(later["record"]["stream"], -1):
                rest.setdefault(later["record"]["stream"], []).append(later["record"]["data"]["id"])
        found.append((list(kept.values()), rest))
    return found


@pytest.mark.parametrize("bulk_mode", ["never", "always"])
def test_only_changed_orders_and_their_line_items(shop: Sandbox, bulk_mode: str) -> None:
    cfg = config(shop, bulk_mode=bulk_mode)
    first = read(cfg, catalog(*ORDERS))
    assert first.exit_code == 0, first.describe()
    orders = first.ids("orders")
    changed = [orders[3], orders[100], orders[-1]]
    for number, order_id in enumerate(changed):
        shop.update_order(order_id, f"changed {number}")
    before = shop.stats()
    second = read(cfg, catalog(*ORDERS), first.latest_states())
    assert second.exit_code == 0, second.describe()
    assert sorted(second.ids("orders")) == sorted(changed)
    items = {i["id"] for i in first.stream_data("order_line_items") if i["order_id"] in changed}
    assert sorted(second.ids("order_line_items")) == sorted(items)
    stats = shop.stats()
    # one small page (or one bulk operation) of orders, not a re-sync
    assert stats["by_root_field"].get("orders", 0) - before["by_root_field"].get("orders", 0) <= 1
    assert stats["points_spent"] - before["points_spent"] < 200
    third = read(cfg, catalog(*ORDERS), second.latest_states())
    assert third.ids("orders") == [] and third.ids("order_line_items") == []


def test_parent_and_child_states_are_their_own(shop: Sandbox) -> None:
    """A child's STATE sits under its own name and never runs ahead of its parent's; reading the parent alone first
    leaves the child to start from the beginning (Airbyte's sub-stream state collision)."""
    cfg = config(shop)
    fresh = read(cfg, catalog(*ORDERS))
    cursors: dict[str, str] = {}
    for state in fresh.states:  # at every STATE, the child's cursor is at most its parent's
        cursors[state["stream"]["stream_descriptor"]["name"]] = state["stream"]["stream_state"]["cursor"]
        assert cursors.get("order_line_items", "") <= cursors.get("orders", ""), cursors
    alone = read(cfg, catalog("orders"))
    both = read(cfg, catalog(*ORDERS), alone.latest_states())
    assert both.exit_code == 0, both.describe()
    assert both.ids("orders") == []
    assert len(both.ids("order_line_items")) == len(read(cfg, catalog("order_line_items")).ids("order_line_items"))
    for state in both.states:
        name = state["stream"]["stream_descriptor"]["name"]
        assert set(state["stream"]["stream_state"]) <= {"cursor", "keys_at_cursor"}, name
    parents = [s for s in alone.states if s["stream"]["stream_descriptor"]["name"] == "orders"]
    children = [s for s in both.states if s["stream"]["stream_descriptor"]["name"] == "order_line_items"]
    assert children[-1]["stream"]["stream_state"] == parents[-1]["stream"]["stream_state"]


def test_resume_from_any_state_gives_exactly_the_rest(shop: Sandbox) -> None:
    cfg = config(shop)
    cat = catalog(*ORDERS, "products", "product_variants")
    first = read(cfg, cat)
    assert first.exit_code == 0, first.describe()
    points = after_each_state(first)
    assert len(points) > 20
    # every fifth, including those where a parent's STATE is out and its child's not yet
    for state, rest in points[1::5]:
        resumed = read(cfg, cat, state)
        assert resumed.exit_code == 0, resumed.describe()
        for stream in (*ORDERS, "products", "product_variants"):
            assert sorted(resumed.ids(stream)) == sorted(rest.get(stream, [])), stream


def test_future_state_reads_nothing(shop: Sandbox) -> None:
    future = {"cursor": "2999-01-01T00:00:00Z", "keys_at_cursor": []}
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": n}, "stream_state": future}} for n in ORDERS]
    run = read(config(shop, bulk_mode="auto"), catalog(*ORDERS), state)
    assert run.exit_code == 0 and run.of("RECORD") == []
    assert shop.stats()["bulk_operations"] == 0  # nothing behind: auto stays paginated


def test_a_change_during_a_bulk_export_is_read_by_the_next_sync(shop: Sandbox) -> None:
    """Shopify does not say that a bulk operation's file is a snapshot. Half-way through the export, `bulk_touch`
    changes the first order, already written, and a second later the last one, still to come: the file holds only
    the last one's new version. The next sync must still get the first one's: the state after an export may not
    pass the time the operation started."""
    cfg = config(shop, bulk_mode="always")
    shop.faults({"kind": "bulk_touch"})
    first = read(cfg, catalog(*ORDERS))
    assert first.exit_code == 0, first.describe()
    second = read(cfg, catalog(*ORDERS), first.latest_states())
    assert second.exit_code == 0, second.describe()
    latest: dict[str, str] = {}
    for run in (first, second):
        for order in run.stream_data("orders"):
            latest[order["id"]] = max(latest.get(order["id"], ""), order["updatedAt"])
    truth = {o["id"]: o["updatedAt"] for o in shop.all_nodes("orders", "id updatedAt")}
    missed = sorted(order_id for order_id, at in truth.items() if latest.get(order_id) != at)
    assert not missed, f"versions never read: {missed}"
