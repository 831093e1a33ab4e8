"""Fixtures for the bridge's tests: a real PostgreSQL server with one fresh schema per test, and the connectors of
this repository, run as commands (real processes) and in-process.

The server comes from SQLFLOW_BRIDGE_TEST_DSN (default: the local server over TCP as user postgres). A missing
server fails the tests; it never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from sqlflow_bridge.connector import AirbyteConnector

DSN = os.environ.get("SQLFLOW_BRIDGE_TEST_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    try:
        with psycopg.connect(DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"the bridge tests need PostgreSQL at {DSN!r} (set SQLFLOW_BRIDGE_TEST_DSN): {exc}", pytrace=False)
    return DSN


@pytest.fixture
def pg(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    name = f"b_{uuid.uuid4().hex[:10]}"
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def pg_config(dsn: str, schema: str) -> dict[str, Any]:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return {
        "host": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "database": params["dbname"],
        "username": params["user"],
        **({"password": params["password"]} if "password" in params else {}),
        "schemas": [schema],
        "ssl_mode": "disable",
    }


@pytest.fixture
def config(admin_dsn: str, schema: str) -> dict[str, Any]:
    return pg_config(admin_dsn, schema)


def make_connector(how: str, name: str) -> AirbyteConnector:
    if how == "command":
        return AirbyteConnector.command(name)
    return AirbyteConnector.in_process(name, arrow=how == "in_process")


@pytest.fixture(scope="session", params=["command", "in_process"])
def source(request: pytest.FixtureRequest) -> AirbyteConnector:
    """source-postgres as a process and in-process (a session's connector keeps its spec: it does not change)."""
    return make_connector(request.param, "source-postgres")


def table_of(parts: list) -> pa.Table:
    return pa.concat_tables([p.chunk.arrow_table for p in parts])
