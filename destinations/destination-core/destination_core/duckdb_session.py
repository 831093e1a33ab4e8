"""DuckDB connections that read and write time zones the same on every host."""

from __future__ import annotations

from typing import Any

import duckdb


def connect(database: str = ":memory:", **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect` with the session time zone set to UTC. DuckDB's default is the host's zone, so a
    timestamp-with-time-zone value without an offset (UTC, as Airbyte means it) would be shifted by the host's TZ,
    and timestamps written as text would carry its offset. (The setting cannot go in `config`: it belongs to the
    ICU extension, which loads only once the connection exists.)"""
    db = duckdb.connect(database, **kwargs)
    db.execute("SET TimeZone = 'UTC'")
    return db
