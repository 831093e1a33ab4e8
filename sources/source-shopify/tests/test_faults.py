"""What the read survives: 5xx bursts, INTERNAL_SERVER_ERROR answers, THROTTLED answers, failed and expired bulk
operations, a parent deleted mid-read, a crash mid-read; and pacing that keeps the bucket from throttling."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter

import pytest

from source_core.testing import parse_output
from source_shopify.streams import BY_NAME
from tests.conftest import FAST_HTTP, Connector, Sandbox, catalog, config, read

ORDERS = ("orders", "order_line_items")


def test_5xx_burst_is_retried(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    shop.faults({"kind": "ok", "count": 2}, {"kind": "502", "count": 3}, {"kind": "503", "count": 1})
    run = read(config(shop), catalog(*ORDERS))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("orders")) == sorted(truth["orders"])
    assert run.logged("http_figures")["retries"] == 4


def test_internal_server_error_answers_are_retried(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    """Shopify reports its own failures with status 200 and an INTERNAL_SERVER_ERROR error: retried as a 500."""
    shop.faults({"kind": "ok", "count": 2}, {"kind": "internal_error", "count": 2})
    run = read(config(shop), catalog(*ORDERS))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("orders")) == sorted(truth["orders"])
    assert run.logged("http_figures")["retries"] == 2


def test_internal_server_errors_that_persist_end_in_a_transient_trace(shop: Sandbox) -> None:
    shop.faults({"kind": "internal_error", "count": FAST_HTTP["max_retries"] + 1})
    run = read(config(shop), catalog("products"))
    assert run.exit_code == 1
    (error,) = run.errors
    assert error["failure_type"] == "transient_error"
    assert "still failed after 7 attempts (last: INTERNAL_SERVER_ERROR)" in error["message"], error


def test_a_parent_deleted_mid_read_loses_only_the_rest_of_its_children(
    shop: Sandbox, truth: dict[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """A location deleted between its page and the lookup of its further inventory levels (the lookup answers
    null): the rest of its levels are skipped, everything else is read."""
    shop.faults({"kind": "gone", "count": 1})
    run = read(config(shop), catalog("locations", "inventory_levels"))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("locations")) == sorted(truth["locations"])
    levels = run.ids("inventory_levels")
    assert len(levels) == len(set(levels)) and set(levels) < set(truth["inventory_levels"])
    per_location = len(truth["inventory_levels"]) // len(truth["locations"])  # the seed gives each the same
    read_per_location = Counter(row["location_id"] for row in run.stream_data("inventory_levels"))
    inline = BY_NAME["inventory_levels"].inline_first
    assert sorted(read_per_location.values()) == [inline, per_location, per_location]
    assert "was deleted during the read: the rest of its inventory_levels skipped" in caplog.text


def test_failed_and_expired_bulk_operations_are_run_again(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    shop.faults({"kind": "bulk_fail", "count": 1}, {"kind": "bulk_expire", "count": 1})
    run = read(config(shop, bulk_mode="always"), catalog(*ORDERS))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("orders")) == sorted(truth["orders"])
    assert sorted(run.ids("order_line_items")) == sorted(truth["order_line_items"])
    assert shop.stats()["bulk_operations"] == 3


def test_a_bulk_operation_failing_every_time_ends_in_a_clear_trace(shop: Sandbox) -> None:
    shop.faults({"kind": "bulk_fail", "count": 3})
    run = read(config(shop, bulk_mode="always"), catalog("products"))
    assert run.exit_code == 1
    (error,) = run.errors
    assert error["failure_type"] == "transient_error"
    assert "failed 3 times" in error["message"] and "INTERNAL_SERVER_ERROR" in error["message"]


def test_pacing_keeps_a_small_bucket_from_throttling(shop: Sandbox) -> None:
    shop.control(bucket=120, restore_rate=300)
    run = read(config(shop), catalog("products", "product_variants", "locations", "inventory_levels"))
    assert run.exit_code == 0, run.describe()
    stats = shop.stats()
    cost = run.logged("shopify_cost")
    assert stats["throttled"] == 0 and cost["throttled"] == 0
    assert cost["waits"] > 0 and cost["maximum_available"] == 120


def test_throttled_answers_are_waited_out(shop: Sandbox, truth: dict[str, list[str]]) -> None:
    """Another app drains the shared bucket while the read runs: THROTTLED answers come and are absorbed."""
    shop.control(bucket=400, restore_rate=2000)
    stop = threading.Event()

    def drain() -> None:
        for _ in range(8):
            if stop.wait(0.15):
                return
            shop.control(available=0)

    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        run = read(config(shop), catalog(*ORDERS))
    finally:
        stop.set()
        drainer.join()
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("orders")) == sorted(truth["orders"])
    assert run.logged("shopify_cost")["throttled"] == shop.stats()["throttled"] > 0


def test_a_crash_mid_read_resumes(shop: Sandbox, connector: Connector, truth: dict[str, list[str]]) -> None:
    cfg, cat = config(shop), catalog(*ORDERS)
    process = subprocess.Popen(connector.command("read", cfg, cat), stdout=subprocess.PIPE, text=True)
    lines, states = [], 0
    for line in process.stdout:
        lines.append(line)
        states += '"type":"STATE"' in line
        if states >= 10:
            process.kill()
            break
    process.wait()
    killed = parse_output("".join(lines), "", process.returncode)
    messages = killed.messages
    kept = {  # each stream's last STATE: its records before it are the ones the resumed read must not repeat
        m["state"]["stream"]["stream_descriptor"]["name"]: i for i, m in enumerate(messages) if m["type"] == "STATE"
    }
    resumed = read(cfg, cat, killed.latest_states())
    assert resumed.exit_code == 0, resumed.describe()
    for stream in ORDERS:
        before = [
            m["record"]["data"]["id"]
            for index, m in enumerate(messages)
            if m["type"] == "RECORD" and m["record"]["stream"] == stream and index < kept.get(stream, -1)
        ]
        assert sorted(before + resumed.ids(stream)) == sorted(truth[stream]), stream


def test_another_readers_bulk_operation_is_waited_for_never_cancelled(
    shop: Sandbox, truth: dict[str, list[str]]
) -> None:
    shop.faults({"kind": "bulk_slow", "count": 1, "seconds": 2})
    started = shop.graphql(
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { message } } }",
        {"q": "{ products { edges { node { id } } } }"},
    )
    other = started["bulkOperationRunQuery"]["bulkOperation"]["id"]
    run = read(config(shop, bulk_mode="always"), catalog(*ORDERS))
    assert run.exit_code == 0, run.describe()
    assert sorted(run.ids("orders")) == sorted(truth["orders"])
    status = shop.graphql("query($id: ID!) { bulkOperation(id: $id) { status } }", {"id": other})["bulkOperation"]
    assert status == {"status": "COMPLETED"}
    assert shop.stats()["bulk_operations"] == 2
