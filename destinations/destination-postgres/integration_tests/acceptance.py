"""What the acceptance suite (acceptance-tests/) needs from this connector: a clean target schema, and the rows
of a stream read back from PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

HERE = Path(__file__).parent


def _connect(config: dict[str, Any]) -> psycopg.Connection:
    return psycopg.connect(
        host=config["host"], port=config["port"], dbname=config["database"], user=config["username"], autocommit=True
    )


@contextmanager
def environment() -> Iterator[None]:
    """Drop what an earlier run left in the target schema."""
    config = json.loads((HERE / "config.json").read_text())
    with _connect(config) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(config["schema"])))
    yield


def read_back(config: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    """The stored rows of `stream` (a stream without namespace), metadata columns left out."""
    with _connect(config) as connection, connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(config["schema"], stream)))
        return [{k: v for k, v in row.items() if not k.startswith("_airbyte_")} for row in cursor]
