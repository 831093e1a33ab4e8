"""Fixtures for destination-postgres tests: the real local PostgreSQL, a fresh schema per test, the real CLI.

The server comes from DESTINATION_POSTGRES_TEST_DSN (default: the local server over TCP as user postgres).
A missing server fails the tests; it never skips them. The connector runs as a separate process, exactly as a
platform would run it (source_core.testing.Cli).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from source_core.testing import Cli
from source_core.testing.postgres import connection_config, fresh_schema, postgres_dsn

CLI = [sys.executable, "-c", "from destination_postgres.run import run; run()"]


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return postgres_dsn("DESTINATION_POSTGRES_TEST_DSN")


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit admin connection, to set up and to read back what the connector wrote."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    """A fresh, empty schema of its own for one test, dropped (with everything in it) afterwards."""
    with fresh_schema(pg, "d") as name:
        yield name


@pytest.fixture
def drop_schemas(pg: psycopg.Connection) -> Iterator[list[str]]:
    """Schemas a test expects the connector to create: append their names, they are dropped afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    return connection_config(admin_dsn, schema=schema)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(CLI, tmp_path)


# -- reading back ------------------------------------------------------------------------------------------


def relations(pg: psycopg.Connection, schema: str) -> set[str]:
    """Every relation (table, view, sequence, index ...) in `schema`."""
    found = pg.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
        (schema,),
    ).fetchall()
    return {name for (name,) in found}


def schema_exists(pg: psycopg.Connection, schema: str) -> bool:
    return pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def rows(pg: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """The given columns of every row, sorted; names quoted by psycopg, so any name is read as it is."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, table)
    )
    return sorted(pg.execute(query).fetchall(), key=repr)
