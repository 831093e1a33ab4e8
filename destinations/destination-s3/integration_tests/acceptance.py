"""What the acceptance suite (acceptance-tests/) needs from this connector: the rows of a stream read back from
the files it wrote (the local-folder form of the destination)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def read_back(config: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    """The rows of every committed part of `stream` (a stream without namespace), metadata columns left out."""
    folder = Path(config["destination_path"]) / config.get("schema", "default") / stream
    parts = [pq.read_table(path) for path in sorted(folder.rglob("*.parquet"))]
    if not parts:
        return []
    table = pa.concat_tables(parts, promote_options="default")
    return table.select([c for c in table.column_names if not c.startswith("_airbyte_")]).to_pylist()
