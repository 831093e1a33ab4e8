"""What the acceptance suite (acceptance-tests/) needs from this connector: the rows of a stream read back from
the DuckDB file."""

from __future__ import annotations

from typing import Any

import duckdb


def read_back(config: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    """The stored rows of `stream` (a stream without namespace), metadata columns left out."""
    with duckdb.connect(config["destination_path"], read_only=True) as connection:
        table = connection.table(f"{config.get('schema', 'main')}.{stream}")
        data = [column for column in table.columns if not column.startswith("_airbyte_")]
        return [dict(zip(data, row, strict=True)) for row in table.select(*data).fetchall()]
