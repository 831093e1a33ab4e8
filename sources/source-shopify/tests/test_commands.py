"""spec, check and discover through the real CLI; secrets never in any output."""

from __future__ import annotations

from source_shopify.sandbox import FULL_TOKEN, LIMITED_TOKEN, RECENT_ORDERS_TOKEN
from tests.conftest import SECRETS, Connector, Sandbox, catalog, config


def status(connector: Connector, cfg: dict) -> dict:
    run = connector.run("check", cfg)
    assert run.exit_code == 0, run.stderr[-2000:]
    for secret in SECRETS:
        assert secret not in run.stdout and secret not in run.stderr
    return run.of("CONNECTION_STATUS")[0]["connectionStatus"]


def test_spec_marks_the_token_secret(connector: Connector) -> None:
    run = connector.run("spec")
    (spec,) = [m["spec"] for m in run.of("SPEC")]
    properties = spec["connectionSpecification"]["properties"]
    assert [k for k, v in properties.items() if v.get("airbyte_secret")] == ["access_token"]
    assert properties["api_version"]["default"] == "2026-10"


def test_check_says_what_to_fix(shop: Sandbox, connector: Connector) -> None:
    assert status(connector, config(shop)) == {"status": "SUCCEEDED"}
    assert status(connector, config(shop, shop="sandbox-shop.myshopify.com")) == {"status": "SUCCEEDED"}
    bad = status(connector, config(shop, access_token="shpat_wrong"))
    assert bad["status"] == "FAILED" and "refused the access token (401)" in bad["message"]
    unknown = status(connector, config(shop, shop="nobody"))
    assert unknown["status"] == "FAILED" and "'nobody'" in unknown["message"] and "(404)" in unknown["message"]
    limited = status(connector, config(shop, access_token=LIMITED_TOKEN))
    assert limited["status"] == "FAILED"
    assert "read_customers (for customers)" in limited["message"]
    assert "read_orders (for orders, order_line_items)" in limited["message"]
    enough = config(shop, access_token=LIMITED_TOKEN, streams=["products", "product_variants", "inventory_levels"])
    assert status(connector, enough) == {"status": "SUCCEEDED"}


def test_discover_lists_the_configured_streams(shop: Sandbox, connector: Connector) -> None:
    run = connector.run("discover", config(shop, streams=["shop", "orders", "order_line_items"]))
    streams = {s["name"]: s for s in run.of("CATALOG")[0]["catalog"]["streams"]}
    assert list(streams) == ["shop", "orders", "order_line_items"]
    assert streams["shop"]["supported_sync_modes"] == ["full_refresh"]
    assert streams["orders"]["default_cursor_field"] == ["updatedAt"]
    assert streams["order_line_items"]["default_cursor_field"] == ["order_updated_at"]
    assert all(s["source_defined_primary_key"] == [["id"]] for s in streams.values())


def test_read_errors_are_traces_and_never_show_the_token(shop: Sandbox, connector: Connector) -> None:
    limited = connector.run("read", config(shop, access_token=LIMITED_TOKEN), catalog("customers", "products"))
    assert limited.exit_code != 0
    errors = [m["trace"]["error"] for m in limited.of("TRACE") if m["trace"]["type"] == "ERROR"]
    denied = [e for e in errors if e.get("stream_descriptor", {}).get("name") == "customers"]
    assert denied and denied[0]["failure_type"] == "config_error" and "read_customers" in denied[0]["message"]
    assert limited.stream_data("products"), "the streams the token may read still sync"
    shop.faults({"kind": "500", "count": 2})
    ok = connector.run("read", config(shop), catalog("shop", "locations"))
    assert ok.exit_code == 0 and ok.stream_data("shop")
    for run in (limited, ok):
        for secret in (FULL_TOKEN, LIMITED_TOKEN):
            assert secret not in run.stdout and secret not in run.stderr


def test_orders_without_read_all_orders_are_refused_not_cut_to_60_days(shop: Sandbox, connector: Connector) -> None:
    """Without read_all_orders Shopify shows only the last 60 days of orders and reports no error (none of the
    sandbox's seeded orders): check fails saying so, and a read fails those streams while the others sync."""
    recent = config(shop, access_token=RECENT_ORDERS_TOKEN)
    refused = status(connector, recent)
    assert refused["status"] == "FAILED"
    assert "read_all_orders (for orders, order_line_items)" in refused["message"]
    assert "60 days" in refused["message"]
    assert status(connector, config(shop, access_token=RECENT_ORDERS_TOKEN, streams=["customers"])) == {
        "status": "SUCCEEDED"
    }
    run = connector.run("read", recent, catalog("customers", "orders", "order_line_items"))
    assert run.exit_code != 0
    errors = {e["stream_descriptor"]["name"]: e for e in (m["trace"]["error"] for m in run.of("TRACE")
              if m["trace"]["type"] == "ERROR") if e.get("stream_descriptor")}  # fmt: skip
    assert sorted(errors) == ["order_line_items", "orders"]
    assert all(e["failure_type"] == "config_error" and "read_all_orders" in e["message"] for e in errors.values())
    assert len(run.stream_data("customers")) == len(shop.truth()["customers"])
    assert not run.stream_data("orders")
