"""Fixtures for source-postgres tests: a real PostgreSQL server, one fresh schema per test, and the real CLI.

The server comes from SOURCE_POSTGRES_TEST_DSN (default: the local server over TCP as user postgres).
A missing server fails the tests; it never skips them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from source_core.testing import Cli
from source_core.testing.postgres import connection_config, fresh_schema, postgres_dsn

CLI = [sys.executable, "-c", "from source_postgres.run import run; run()"]


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return postgres_dsn("SOURCE_POSTGRES_TEST_DSN")


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema of its own for one test, dropped afterwards."""
    with fresh_schema(pg, "t") as name:
        yield name


@pytest.fixture
def role(pg: psycopg.Connection) -> Iterator[str]:
    """A throwaway login role (trust auth over 127.0.0.1), dropped afterwards."""
    name = f"r_{uuid.uuid4().hex[:8]}"
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    pg.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    pg.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    return connection_config(admin_dsn, schemas=[schema])


class Connector(Cli):
    """`source-postgres` as a separate process, with a catalog from its discover."""

    def __init__(self, folder: Path):
        super().__init__(CLI, folder)

    def catalog(self, config: dict, streams: list[str] | None = None, **per_stream: Any) -> dict:
        """A configured catalog from `discover`: all streams (or those named), with the given settings."""
        found = self.run("discover", config)
        assert found.exit_code == 0, found.stdout + found.stderr
        (catalog,) = [m["catalog"] for m in found.of("CATALOG")]
        configured = []
        for stream in catalog["streams"]:
            if streams is None or stream["name"] in streams:
                entry = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                entry.update(per_stream)
                if entry["sync_mode"] == "incremental":
                    entry["destination_sync_mode"] = "append"
                configured.append(entry)
        return {"streams": configured}


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(tmp_path)
