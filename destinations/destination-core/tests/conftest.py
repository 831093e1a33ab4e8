"""One write-behaviour suite, run against both SQL destinations as real processes on real databases.

`dest` is parametrized over PostgreSQL (a fresh schema on the local server, from DESTINATION_POSTGRES_TEST_DSN)
and DuckDB (a fresh file). It writes messages through the connector's CLI and reads the resulting tables back.
A missing PostgreSQL server fails the tests; it never skips them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

from source_core.testing import Run, lines, parse_output
from source_core.testing.postgres import DEFAULT_DSN, connection_config, fresh_schema, postgres_dsn

DSN = os.environ.get("DESTINATION_POSTGRES_TEST_DSN", DEFAULT_DSN)
EVERY_KIND = {  # a JSON schema property of every column kind the destinations type
    "i": {"type": "integer"},
    "n": {"type": "number"},
    "b": {"type": "boolean"},
    "d": {"type": "string", "format": "date"},
    "tz": {"type": "string", "format": "date-time"},
    "ts": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
    "t": {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"},
    "ttz": {"type": "string", "format": "time", "airbyte_type": "time_with_timezone"},
    "s": {"type": ["null", "string"]},
    "o": {"type": "object"},
    "a": {"type": "array"},
}
CLI = {
    "postgres": [sys.executable, "-c", "from destination_postgres.run import run; run()"],
    "duckdb": [sys.executable, "-c", "from destination_duckdb.run import run; run()"],
}


class Destination:
    """A destination under test: its CLI, its config, and a way to read what it wrote."""

    kind: str

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.config: dict[str, Any] = {}

    def file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def command(self, command: str, catalog: dict[str, Any] | None = None, config: dict | None = None) -> list[str]:
        args = [command, "--config", self.file("config", config if config is not None else self.config)]
        if catalog is not None:
            args += ["--catalog", self.file("catalog", catalog)]
        return CLI[self.kind] + args

    def write(self, catalog: dict[str, Any], messages: list[dict[str, Any] | str] | bytes, **config: Any) -> Run:
        data = messages if isinstance(messages, bytes) else lines(messages)
        done = subprocess.run(
            self.command("write", catalog, {**self.config, **config}), input=data, capture_output=True, timeout=600
        )
        return parse_output(done.stdout.decode(), done.stderr.decode(), done.returncode)

    def start_write(self, catalog: dict[str, Any], **config: Any) -> subprocess.Popen[bytes]:
        """A `write` left running, its stdin open for the test to feed (unbuffered pipes)."""
        command = self.command("write", catalog, {**self.config, **config})
        return subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
        )

    def check(self, config: dict[str, Any] | None = None) -> Run:
        done = subprocess.run(self.command("check", config=config), capture_output=True, text=True, timeout=120)
        return parse_output(done.stdout, done.stderr, done.returncode)

    # reading back -----------------------------------------------------------------------------------------
    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def query_no_rows(self, statement: str) -> None:
        """Run a statement that changes the database (a test's own setup)."""
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:
        raise NotImplementedError

    def tables(self) -> set[str]:
        raise NotImplementedError


class PostgresDestination(Destination):
    kind = "postgres"

    def __init__(self, folder: Path, conn: psycopg.Connection, schema: str) -> None:
        super().__init__(folder)
        self.conn, self.schema = conn, schema
        self.config = connection_config(DSN, schema=schema)

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement, params).fetchall()

    def query_no_rows(self, statement: str) -> None:
        self.conn.execute(statement)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(self.schema, table))
        if order_by:
            query += sql.SQL(" ORDER BY {}").format(sql.Identifier(order_by))
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(query).fetchall()

    def columns(self, table: str) -> dict[str, str]:
        found = self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        )
        return dict(found)  # type: ignore[arg-type]

    def tables(self) -> set[str]:
        found = self.query("SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,))
        return {name for (name,) in found}


class DuckdbDestination(Destination):
    kind = "duckdb"
    schema = "main"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.path = folder / "warehouse.duckdb"
        self.config = {"destination_path": str(self.path)}

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True)

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as db:
            return db.execute(statement, list(params)).fetchall()

    def query_no_rows(self, statement: str) -> None:
        with duckdb.connect(str(self.path)) as db:
            db.execute(statement)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        quoted = '"' + table.replace('"', '""') + '"'
        order = f' ORDER BY "{order_by}"' if order_by else ""
        with self._connect() as db:
            cursor = db.execute(f"SELECT * FROM {quoted}{order}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def columns(self, table: str) -> dict[str, str]:
        found = self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 "
            "ORDER BY ordinal_position",
            (table,),
        )
        return dict(found)  # type: ignore[arg-type]

    def tables(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {name for (name,) in self.query("SELECT table_name FROM information_schema.tables")}


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return postgres_dsn("DESTINATION_POSTGRES_TEST_DSN")


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema name of its own for one test (the connector creates it), dropped afterwards."""
    with fresh_schema(pg, "d", create=False) as name:
        yield name


@pytest.fixture(params=["postgres", "duckdb"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Destination:
    if request.param == "postgres":
        return PostgresDestination(tmp_path, request.getfixturevalue("pg"), request.getfixturevalue("pg_schema"))
    return DuckdbDestination(tmp_path)


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
