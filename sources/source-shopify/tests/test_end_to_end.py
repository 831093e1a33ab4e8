"""The sandbox shop synced into DuckDB the way a user runs it: `source-shopify read | destination-duckdb write`,
a full sync, then, after orders change, an incremental one from the states the destination acknowledged; the
final tables hold every record once, the changed orders as they are now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from source_core.testing import Run, parse_output
from tests.conftest import Connector, Sandbox, catalog, config

DESTINATION = [sys.executable, "-c", "from destination_duckdb.run import run; run()"]
STREAMS = ("customers", "orders", "order_line_items")


def dedup_catalog() -> dict[str, Any]:
    configured = catalog(*STREAMS)
    for entry in configured["streams"]:
        entry["destination_sync_mode"] = "append_dedup"
        entry["primary_key"] = [["id"]]
    return configured


def sync(connector: Connector, cfg: dict, cat: dict, state: list | None, database: Path) -> Run:
    """One sync through a pipe; what the destination printed (its acknowledged states)."""
    source = subprocess.Popen(connector.command("read", cfg, cat, state), stdout=subprocess.PIPE)
    destination = connector.file("destination", {"destination_path": str(database)})
    written = subprocess.run(
        [*DESTINATION, "write", "--config", destination, "--catalog", connector.file("catalog", cat)],
        stdin=source.stdout,
        capture_output=True,
        timeout=300,
    )
    assert source.wait(timeout=60) == 0
    return parse_output(written.stdout.decode(), written.stderr.decode(), written.returncode)


def table(database: Path, name: str, columns: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as db:
        return db.execute(f'SELECT {columns} FROM "{name}" ORDER BY id').fetchall()


def test_full_then_incremental_sync_into_duckdb(
    shop: Sandbox, connector: Connector, truth: dict[str, list[str]], tmp_path: Path
) -> None:
    database, cfg, cat = tmp_path / "shop.duckdb", config(shop), dedup_catalog()
    first = sync(connector, cfg, cat, None, database)
    assert first.exit_code == 0, first.describe()
    for stream in STREAMS:
        assert [row[0] for row in table(database, stream, "id")] == sorted(truth[stream]), stream
    changed = sorted(truth["orders"])[5:8]
    for order_id in changed:
        shop.update_order(order_id, "changed after the first sync")
    before = shop.stats()["by_root_field"]["orders"]
    second = sync(connector, cfg, cat, first.latest_states(), database)
    assert second.exit_code == 0, second.describe()
    orders = table(database, "orders", "id, note")
    assert [row[0] for row in orders] == sorted(truth["orders"])
    assert sorted(i for i, note in orders if note == "changed after the first sync") == changed
    line_items = table(database, "order_line_items", "id, order_id")
    assert [row[0] for row in line_items] == sorted(truth["order_line_items"])
    assert shop.stats()["by_root_field"]["orders"] - before == 1  # one page: the second sync read only what changed
