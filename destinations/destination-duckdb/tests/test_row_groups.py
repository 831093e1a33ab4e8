"""The rows handed to DuckDB's INSERT: every row once, in order, in batches of whole row groups."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from destination_duckdb.loader import ROW_GROUP_BYTES, ROW_GROUP_ROWS, row_groups


def parts(sizes: list[int], text: int = 0) -> list[pa.Table]:
    at, found = 0, []
    for size in sizes:
        ids = np.arange(at, at + size)
        found.append(pa.table({"id": ids, "text": pa.array(["x" * text] * size, pa.string())}))
        at += size
    return found


def test_rows_come_in_order_as_whole_row_groups_and_the_rest_at_the_end() -> None:
    batches = list(row_groups(iter(parts([50_000, 100_000, 3, 200_000, ROW_GROUP_ROWS]))))
    ids = np.concatenate([batch.column("id").to_numpy() for batch in batches])
    assert ids.tolist() == list(range(350_003 + ROW_GROUP_ROWS))
    sizes = [batch.num_rows for batch in batches]
    assert sizes[:-1] == [ROW_GROUP_ROWS] * 3 and sizes[-1] == 350_003 + ROW_GROUP_ROWS - 3 * ROW_GROUP_ROWS


def test_wide_rows_are_handed_on_before_a_row_group_is_full() -> None:
    """Rows of 1 KiB: ROW_GROUP_BYTES are reached long before ROW_GROUP_ROWS rows, and no more are held."""
    size = 8_000
    count = 12
    batches = list(row_groups(iter(parts([size] * count, text=1024))))
    assert sum(batch.num_rows for batch in batches) == size * count
    assert all(batch.num_rows < ROW_GROUP_ROWS for batch in batches)
    assert max(pa.Table.from_batches([batch]).nbytes for batch in batches) <= ROW_GROUP_BYTES + size * 1100
    assert len(batches) > 1
